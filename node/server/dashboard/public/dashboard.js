// The Cattery dashboard in the browser: reads the node's snapshots from /dashboard/events (server-sent
// events, read with fetch so the admin token travels as `Authorization: Bearer`, never in a URL) and
// shows them. The token is asked for once when the node refuses the stream (401) and kept in this
// tab's sessionStorage. Everything from the node is written with textContent, never as HTML.
// Charts: uPlot (served by the node, /dashboard/uplot.js); the last HISTORY snapshots are kept.

const TOKEN_KEY = 'cattery-admin-token'
const HISTORY = 300
/** No snapshot for this long on an open stream: it is taken as stale and opened again. */
const STALE_MS = 5000
const RETRY_MS = 2000

const $ = (selector) => document.querySelector(selector)
const uPlot = globalThis.uPlot

// ---- formatting ----

const bytes = (n) => {
  if (n < 1024) return `${Math.round(n)} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}
const perSecond = (n, unit) => `${n < 10 ? n.toFixed(1) : Math.round(n)} ${unit}/s`
const ago = (ms) => {
  const s = Math.max(0, ms / 1000)
  if (s < 10) return `${s.toFixed(1)} s ago`
  if (s < 120) return `${Math.round(s)} s ago`
  if (s < 7200) return `${Math.round(s / 60)} min ago`
  return `${Math.round(s / 3600)} h ago`
}
const clock = (at) => new Date(at).toLocaleTimeString([], { hour12: false })

// ---- small DOM helpers (text only) ----

function el(tag, text, className) {
  const e = document.createElement(tag)
  if (text !== undefined) e.textContent = String(text)
  if (className) e.className = className
  return e
}

/** A status word beside a coloured dot: the word carries the meaning, the colour only repeats it. */
function stateCell(tag, word, tone) {
  const e = el(tag, undefined, 'state')
  const dot = el('span', undefined, `dot ${tone}`)
  dot.setAttribute('aria-hidden', 'true')
  e.append(dot, el('span', word, 'word'))
  return e
}

function setState(target, word, tone, detail = '') {
  target.querySelector('.dot').className = `dot ${tone}`
  target.querySelector('.word').textContent = word
  const d = target.querySelector('.detail')
  if (d) d.textContent = detail
}

// ---- charts ----

function chart(target, title, series, format) {
  const opts = {
    title,
    width: Math.max(200, target.clientWidth),
    height: 150,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{}, { size: 70, values: (_u, ticks) => ticks.map(format) }],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: 1.5,
        dash: s.dash,
        value: (_u, v) => (v == null ? '–' : format(v)),
      })),
    ],
  }
  const data = [[], ...series.map(() => [])]
  const plot = new uPlot(opts, data, target)
  new ResizeObserver(() => plot.setSize({ width: Math.max(200, target.clientWidth), height: 150 })).observe(
    target,
  )
  return {
    push(at, values) {
      data[0].push(at / 1000)
      values.forEach((v, i) => {
        data[i + 1].push(v)
      })
      if (data[0].length > HISTORY) for (const d of data) d.shift()
      plot.setData(data)
    },
  }
}

const charts = uPlot
  ? {
      messages: chart(
        $('#messages-chart'),
        'Messages per second',
        [
          { label: 'out', stroke: '#1a73e8' },
          { label: 'in', stroke: '#e8710a', dash: [6, 3] },
        ],
        (v) => (v < 10 ? v.toFixed(1) : String(Math.round(v))),
      ),
      bytes: chart(
        $('#bytes-chart'),
        'Bytes per second',
        [
          { label: 'out', stroke: '#1a73e8' },
          { label: 'in', stroke: '#e8710a', dash: [6, 3] },
        ],
        bytes,
      ),
      memory: chart(
        $('#memory-chart'),
        'Memory',
        [
          { label: 'resident', stroke: '#9334e6' },
          { label: 'heap used', stroke: '#188038', dash: [6, 3] },
        ],
        bytes,
      ),
    }
  : undefined

// ---- rendering one snapshot ----

function renderMembers(s) {
  const body = $('#members tbody')
  const rows = s.members.map((m) => {
    const tr = el('tr')
    tr.dataset.member = m.name
    const name = el('td', m.name)
    if (m.local) name.append(el('span', ' (this node)', 'muted'))
    tr.append(
      name,
      stateCell('td', m.ready ? 'ready' : 'joining', m.ready ? 'ok' : 'warn'),
      el('td', m.address),
      el('td', m.domain || '–'),
      el('td', `${clock(m.since)} (${ago(s.at - m.since)})`),
      el('td', m.lastHeard ? `${m.lastHeard.via}, ${ago(s.at - m.lastHeard.at)}` : '–'),
      el('td', m.local ? '–' : `${m.queued} (${bytes(m.queuedBytes)})`, 'num'),
    )
    return tr
  })
  body.replaceChildren(...rows)
  // Counted as /metrics counts them: cattery_members (the others) and this node apart.
  const others = s.members.filter((m) => !m.local)
  const ready = others.filter((m) => m.ready).length
  const self = s.members.some((m) => m.local) ? ' + this node' : ''
  $('#members .count').textContent =
    `${others.length} other${others.length === 1 ? '' : 's'}${self} (${ready} of ${others.length} ready)`
}

function renderContexts(s) {
  const rows = s.contexts.map((c) => {
    const tr = el('tr')
    tr.dataset.context = c.path
    const roles = Object.entries(c.roles)
      .map(([role, n]) => `${role} ${n}`)
      .join(' · ')
    tr.append(
      el('td', c.name ? `${c.path} (${c.name})` : c.path),
      el('td', c.manager),
      stateCell('td', c.ready ? 'ready' : 'receiving', c.ready ? 'ok' : 'warn'),
      el('td', c.sessions, 'num sessions'),
      el('td', roles || '–'),
    )
    return tr
  })
  $('#contexts tbody').replaceChildren(...rows)
  const select = $('#lookup-context')
  const paths = s.contexts.map((c) => c.path)
  if ([...select.options].map((o) => o.value).join('\n') !== paths.join('\n')) {
    const chosen = select.value
    select.replaceChildren(...paths.map((p) => el('option', p)))
    if (paths.includes(chosen)) select.value = chosen
  }
}

function renderTraffic(s) {
  const t = s.traffic
  $('#out-rate').textContent = `${perSecond(t.messagesOutPerSecond, 'msg')}, ${bytes(t.bytesOutPerSecond)}/s`
  $('#in-rate').textContent = `${perSecond(t.messagesInPerSecond, 'msg')}, ${bytes(t.bytesInPerSecond)}/s`
  $('#queued').textContent = `${t.queued} msg (${bytes(t.queuedBytes)})`
  $('#failures').textContent = `${t.sendFailures} in all`
  charts?.messages.push(s.at, [t.messagesOutPerSecond, t.messagesInPerSecond])
  charts?.bytes.push(s.at, [t.bytesOutPerSecond, t.bytesInPerSecond])
}

function renderTransfers(s) {
  const items = s.transfers.map((t) => {
    const li = el('li')
    li.append(el('strong', t.context), ` ${t.state}`)
    if (t.donor) li.append(` from ${t.donor}`)
    const done = t.expected ? `${t.received} of ${t.expected} sessions` : `${t.received} sessions`
    li.append(`: ${done}, for ${ago(s.at - t.since).replace(' ago', '')}`)
    if (t.expected) {
      const bar = el('progress')
      bar.max = t.expected
      bar.value = t.received
      li.append(' ', bar)
    }
    if (t.reason) li.append(el('div', t.reason, 'muted'))
    return li
  })
  $('#transfers ul').replaceChildren(...items)
  $('#transfers .empty').hidden = items.length > 0
}

function renderEvents(s) {
  const items = s.events.map((e) => {
    const li = el('li')
    li.append(el('span', clock(e.at), 'muted'), ` ${e.member} (${e.address}) ${e.event}`)
    if (e.reason) li.append(`: ${e.reason}`)
    return li
  })
  $('#events ol').replaceChildren(...items)
  $('#events .empty').hidden = items.length > 0
}

function renderMemory(s) {
  const m = s.memory
  $('#rss').textContent = bytes(m.rss)
  $('#heap-used').textContent = bytes(m.heapUsed)
  $('#heap-total').textContent = bytes(m.heapTotal)
  $('#external').textContent = bytes(m.external)
  charts?.memory.push(s.at, [m.rss, m.heapUsed])
}

function render(s) {
  $('#node-name').textContent = s.node.name
  document.title = `${s.node.name} · Cattery`
  setState($('#node-state'), s.node.ready ? 'ready' : 'not ready', s.node.ready ? 'ok' : 'warn')
  renderMembers(s)
  renderContexts(s)
  renderTraffic(s)
  renderTransfers(s)
  renderEvents(s)
  renderMemory(s)
}

// ---- the stream ----

const connection = $('#connection')
const tokenForm = $('#token-form')
let lastSnapshot = 0
let aborter

function authorization() {
  const token = sessionStorage.getItem(TOKEN_KEY)
  return token ? { authorization: `Bearer ${token}` } : {}
}

function retryLater(word, detail, ms = RETRY_MS) {
  setState(connection, word, 'bad', detail)
  setTimeout(connect, ms)
}

async function refused(res) {
  const body = await res.json().catch(() => ({}))
  const had = sessionStorage.getItem(TOKEN_KEY) !== null
  sessionStorage.removeItem(TOKEN_KEY)
  const why = had ? 'the token was refused' : 'this node needs its admin token'
  const code = body.code ? ` ${body.code}` : ''
  setState(connection, 'refused', 'bad', `(401${code}): ${why}. ${body.message ?? ''}`)
  tokenForm.hidden = false
  $('#token').focus()
}

async function connect() {
  aborter?.abort()
  aborter = new AbortController()
  const signal = aborter.signal
  let res
  try {
    res = await fetch('events', { headers: authorization(), cache: 'no-store', signal })
  } catch {
    if (!signal.aborted) retryLater('disconnected', '(the node does not answer; trying again)')
    return
  }
  if (res.status === 401) return refused(res)
  if (res.status === 503) {
    const body = await res.json().catch(() => ({}))
    return retryLater('busy', `(503 ${body.code ?? ''}): ${body.message ?? ''}`, 5000)
  }
  if (!res.ok || !res.body) return retryLater('error', `(HTTP ${res.status}; trying again)`)
  tokenForm.hidden = true
  setState(connection, 'live', 'ok', '')
  lastSnapshot = Date.now()
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffer += value
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        onEvent(block)
      }
    }
  } catch {}
  if (!signal.aborted) retryLater('disconnected', '(the stream ended; trying again)')
}

function onEvent(block) {
  let event = 'message'
  let data = ''
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim()
    else if (line.startsWith('data:')) data += line.slice(5).trimStart()
  }
  if (event !== 'snapshot' || !data) return
  lastSnapshot = Date.now()
  render(JSON.parse(data))
}

setInterval(() => {
  if (tokenForm.hidden && connection.querySelector('.word').textContent === 'live') {
    if (Date.now() - lastSnapshot > STALE_MS) {
      setState(connection, 'stale', 'warn', '(no update for 5 s; reconnecting)')
      connect()
    }
  }
}, 1000)

tokenForm.addEventListener('submit', (e) => {
  e.preventDefault()
  const token = $('#token').value.trim()
  if (!token) return
  sessionStorage.setItem(TOKEN_KEY, token)
  $('#token').value = ''
  tokenForm.hidden = true
  setState(connection, 'connecting', 'unknown', '')
  connect()
})

// ---- session lookup (the admin server's /sessions/<id>: names and sizes, values when allowed) ----

$('#lookup-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const out = $('#lookup-result')
  const id = $('#lookup-id').value.trim()
  const context = $('#lookup-context').value
  if (!id) return
  out.replaceChildren(el('p', 'Looking up…', 'muted'))
  const url = `../sessions/${encodeURIComponent(id)}?context=${encodeURIComponent(context)}`
  let res
  try {
    res = await fetch(url, { headers: authorization(), cache: 'no-store' })
  } catch {
    out.replaceChildren(el('p', 'The node does not answer.'))
    return
  }
  const body = await res.json().catch(() => ({}))
  if (!res.ok) {
    out.replaceChildren(el('p', `${res.status} ${body.code ?? ''}: ${body.message ?? ''}`))
    return
  }
  const table = el('table')
  const row = (k, v) => {
    const tr = el('tr')
    tr.append(el('th', k), el('td', v))
    table.append(tr)
  }
  row('id', body.id)
  row('created', new Date(body.creationTime).toLocaleString())
  row('last accessed', new Date(body.lastAccessedTime).toLocaleString())
  row('max inactive', `${body.maxInactiveInterval} s`)
  row('principal', body.principal ?? '–')
  row('version', `${body.version} (writer ${body.writer || '–'})`)
  const names = Object.keys(body.attributes ?? {})
  row('attributes', names.length === 0 ? 'none' : `${names.length}`)
  for (const name of names) {
    const a = body.attributes[name]
    const value = 'value' in a ? ` = ${JSON.stringify(a.value)}` : ''
    row(`  ${name}`, `${bytes(a.size)}${value}`)
  }
  out.replaceChildren(table)
})

connect()
