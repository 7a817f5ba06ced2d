/**
 * The dashboard as a person sees it: a real 3-node cluster on loopback with an admin token, one page
 * per node in Debian's headless Chromium (playwright-core, the system's browser). On a failure every
 * page is saved as a screenshot under .local/dashboard-test/. With CATTERY_DASHBOARD_SCREENSHOT=<file>
 * the first node's page is saved there once sessions are shown (docs/img/dashboard.png is made so).
 */
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { after, before, describe, it, type TestContext } from 'node:test'
import { type Browser, chromium, type Page } from 'playwright-core'
import { findChromium } from '../helpers/chromium.ts'
import {
  createSessions,
  getJson,
  type HttpNode,
  planCluster,
  started,
  startHttpNode,
  until,
} from '../helpers/http-nodes.ts'

const TOKEN = 'sesame-open-please'
const SHOTS = path.resolve(import.meta.dirname, '../../.local/dashboard-test')
/**
 * Static membership's failure detection: a member silent for expireTime (5 s) is dropped, pinged
 * every pingInterval (1 s); the failure detector usually confirms a dead one sooner. The page shows it
 * at its next snapshot (1 s). Slack for two shared cores on top.
 */
const FAILURE_DETECTION_MS = 5_000 + 1_000
const SLACK_MS = 8_000
/** What the kill -9 test allows: the failure detection, and the slack on top. */
const DROPPED_WITHIN_MS = FAILURE_DETECTION_MS + SLACK_MS

/** What a person reads in the members table: each row's name and state word (read at one moment). */
const membersShown = (page: Page): Promise<Array<[string, string]>> =>
  page
    .locator('#members tbody tr')
    .evaluateAll((rows) =>
      rows.map((r) => [
        r.getAttribute('data-member') ?? '',
        r.querySelector('td:nth-child(2)')?.textContent?.trim() ?? '',
      ]),
    ) as Promise<Array<[string, string]>>

const textOf = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? '').trim()
const sessionsShown = async (page: Page, context: string) =>
  Number(await textOf(page, `#contexts tbody tr[data-context="${context}"] td.sessions`))
const connectionSays = (page: Page) => textOf(page, '#connection')

/** Waits until the connection's status word is (or, with `not`, is no longer) `word`. */
const connectionWord = (page: Page, word: string, not = false, timeoutMs = 10_000) =>
  until(
    `the page's connection to ${not ? 'no longer ' : ''}say ${word}`,
    async () => ((await textOf(page, '#connection .word')) === word) !== not,
    timeoutMs,
  )

describe('dashboard in headless Chromium, on a 3-node cluster', () => {
  const nodes: HttpNode[] = []
  const pages = new Map<string, Page>()
  const loads = new Map<string, number>()
  let browser: Browser | undefined

  before(async () => {
    const executablePath = findChromium()
    const plan = await planCluster(3)
    for (const i of [0, 1, 2]) nodes.push(await startHttpNode(plan, i, [], { CATTERY_ADMIN_TOKEN: TOKEN }))
    await Promise.all(nodes.map((n) => started(n)))
    browser = await chromium.launch({ executablePath, chromiumSandbox: false })
    for (const n of nodes) {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
      loads.set(n.name, 0)
      page.on('load', () => loads.set(n.name, (loads.get(n.name) ?? 0) + 1))
      pages.set(n.name, page)
    }
  })
  after(async () => {
    await browser?.close()
    await Promise.all(nodes.map((n) => n.process.stop('SIGKILL')))
  })

  /** Runs a test body; on failure saves every page's screenshot, then fails. */
  const shown = (name: string, body: (t: TestContext) => Promise<void>) =>
    it(name, async (t) => {
      try {
        await body(t)
      } catch (err) {
        mkdirSync(SHOTS, { recursive: true })
        const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)
        for (const [node, page] of pages)
          await page
            .screenshot({ path: path.join(SHOTS, `${slug}-${node}.png`), fullPage: true })
            .catch(() => {})
        throw err
      }
    })

  const page = (name: string) => pages.get(name) as Page

  shown('without the token the events stream answers 401 and the page says it was refused', async () => {
    const r = await fetch(`http://127.0.0.1:${nodes[0]?.admin}/dashboard/events`)
    assert.equal(r.status, 401)
    for (const n of nodes) {
      await page(n.name).goto(`http://127.0.0.1:${n.admin}/dashboard`)
      await connectionWord(page(n.name), 'refused')
      const said = await connectionSays(page(n.name))
      assert.match(said, /refused/)
      assert.match(said, /401/)
      assert.match(said, /admin token/)
      assert.equal(await page(n.name).isVisible('#token-form'), true)
      assert.deepEqual(await membersShown(page(n.name)), [])
    }
  })

  shown('with the token each page lists the three members as ready, and says it is live', async () => {
    for (const n of nodes) {
      await page(n.name).fill('#token', TOKEN)
      await page(n.name).click('#token-form button[type=submit]')
    }
    for (const n of nodes) {
      const shownRows = await until(
        `${n.name}'s page to list three ready members`,
        async () => {
          const rows = await membersShown(page(n.name))
          return rows.length === 3 && rows.every(([, state]) => state === 'ready') && rows
        },
        15_000,
      )
      assert.deepEqual(shownRows.map(([name]) => name).sort(), ['n1', 'n2', 'n3'])
      // Counted as /metrics counts: cattery_members (the others) 2, this node apart.
      assert.equal(await textOf(page(n.name), '#members .count'), '2 others + this node (2 of 2 ready)')
      assert.match(await connectionSays(page(n.name)), /^live/)
      assert.equal(await page(n.name).isVisible('#token-form'), false)
    }
  })

  shown(
    'after sessions are created on one node, the count rises on every page without a reload',
    async () => {
      const before = new Map<string, number>()
      for (const n of nodes) before.set(n.name, await sessionsShown(page(n.name), '/demo'))
      const loadsBefore = new Map(loads)
      await createSessions(nodes[0] as HttpNode, 25)
      for (const n of nodes)
        await until(
          `${n.name}'s page to show 25 more sessions in /demo`,
          async () => (await sessionsShown(page(n.name), '/demo')) === (before.get(n.name) ?? 0) + 25,
          15_000,
        )
      assert.deepEqual(loads, loadsBefore, 'no page was loaded again')
      const screenshot = process.env.CATTERY_DASHBOARD_SCREENSHOT
      if (screenshot) {
        await new Promise((r) => setTimeout(r, 2_500)) // a few points on the charts
        await page('n1').screenshot({ path: path.resolve(screenshot), fullPage: true })
      }
    },
  )

  shown("the session lookup shows a session's attribute names and sizes, not their values", async () => {
    const r = await getJson(`http://127.0.0.1:${nodes[0]?.http}/demo/set?k=colour&v=teal`)
    const p = page('n2')
    await p.selectOption('#lookup-context', '/demo')
    await p.fill('#lookup-id', r.body.sessionId as string)
    await p.click('#lookup-form button[type=submit]')
    await until('the lookup to answer', async () => (await textOf(p, '#lookup-result')).includes('colour'))
    const shownText = await textOf(p, '#lookup-result')
    assert.match(shownText, new RegExp(r.body.sessionId as string))
    assert.match(shownText, /colour5 B/)
    assert.doesNotMatch(shownText, /teal/)
  })

  shown(
    'in a small window (400 × 700) the page needs no sideways scrolling and shows each member with its state in words',
    async () => {
      const p = page('n1')
      await p.setViewportSize({ width: 400, height: 700 })
      try {
        await p.waitForTimeout(200) // a layout pass at the new size
        // Run in the page (a string: this file is compiled without the DOM's types).
        const widths = (await p.evaluate(`({
          page: document.documentElement.scrollWidth,
          window: window.innerWidth,
          over: [...document.querySelectorAll('main section')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
            .map((e) => e.id),
        })`)) as { page: number; window: number; over: string[] } // over: sections wider than the window
        assert.ok(widths.page <= widths.window, `the page is ${widths.page} px wide in ${widths.window}`)
        assert.deepEqual(widths.over, [])
        const rows = await membersShown(p)
        assert.equal(rows.length, 3)
        for (const [name, state] of rows) assert.equal(state, 'ready', `${name}'s state in words`)
        assert.equal(await p.locator('#members').isVisible(), true)
      } finally {
        await p.setViewportSize({ width: 1200, height: 900 })
      }
    },
  )

  shown(
    `after kill -9 of a node it disappears from the others' pages without a reload within ${DROPPED_WITHIN_MS / 1000} s (failure detection ${FAILURE_DETECTION_MS / 1000} s + ${SLACK_MS / 1000} s slack)`,
    async (t) => {
      const killed = nodes[2] as HttpNode
      const loadsBefore = new Map(loads)
      const t0 = Date.now()
      killed.process.child.kill('SIGKILL')
      await killed.process.exited
      // Both pages are watched at once, so each one's time is its own (polled every 50 ms).
      const took = await Promise.all(
        nodes.slice(0, 2).map(async (n) => {
          await until(
            `${n.name}'s page to drop ${killed.name}`,
            async () => {
              const rows = await membersShown(page(n.name))
              return rows.length === 2 && !rows.some(([name]) => name === killed.name)
            },
            DROPPED_WITHIN_MS,
          )
          return [n.name, Date.now() - t0] as const
        }),
      )
      t.diagnostic(
        `${killed.name} left the pages after ${took.map(([n, ms]) => `${n} ${ms} ms`).join(', ')} (failure detection ${FAILURE_DETECTION_MS} ms, allowed ${DROPPED_WITHIN_MS} ms)`,
      )
      for (const [n, ms] of took) {
        assert.ok(ms <= DROPPED_WITHIN_MS, `${n}: took ${ms} ms`)
        const events = await textOf(page(n), '#events ol')
        assert.match(events, new RegExp(`${killed.name} \\(127\\.0\\.0\\.1:\\d+\\) left`))
      }
      for (const n of nodes.slice(0, 2))
        assert.equal(loads.get(n.name), loadsBefore.get(n.name), `${n.name}'s page was not loaded again`)
      // The killed node's own page says it lost its node.
      await connectionWord(page(killed.name), 'live', true)
      assert.match(await connectionSays(page(killed.name)), /disconnected|stale/)
    },
  )
})
