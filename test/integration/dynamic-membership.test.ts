import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { createChannel } from '../../node/tribes/channel.ts'
import type { Channel } from '../../node/tribes/channel-types.ts'
import type { Member } from '../../node/tribes/member.ts'
import { AddressList } from '../../node/tribes/membership/dynamic.ts'
import { waitForMembers } from '../helpers/channels.ts'
import { freePorts } from '../helpers/node-process.ts'

describe('dynamic list membership (addresses that change at runtime)', () => {
  const channels: Channel[] = []
  after(() => Promise.all(channels.map((c) => c.stop())))

  it('adds members as their addresses appear and drops them as they leave the list', async () => {
    const ports = await freePorts(3)
    const lists = ports.map(() => new AddressList())
    for (const [i, port] of ports.entries()) {
      channels.push(
        createChannel({
          name: `d${i + 1}`,
          receiver: { host: '127.0.0.1', port, autoBind: 1 },
          membership: {
            type: 'dynamic',
            source: lists[i] as AddressList,
            pingInterval: 200,
            expireTime: 2000,
          },
        }),
      )
    }
    await Promise.all(channels.map((c) => c.start()))
    const addresses = ports.map((port) => ({ host: '127.0.0.1', port }))
    // At first each node knows nobody; then the list (as Kubernetes would publish it) names all three.
    assert.equal(channels[0]?.members().length, 0)
    for (const l of lists) l.set(addresses)
    await Promise.all(channels.map((c) => waitForMembers(c, 2)))

    const gone: Array<[string, string]> = []
    channels[0]?.on('memberDisappeared', (m: Member, reason: string) => gone.push([m.name, reason]))
    ;(lists[0] as AddressList).set(addresses.slice(0, 2))
    await waitForMembers(channels[0] as Channel, 1)
    assert.deepEqual(gone, [['d3', 'removed']])
    assert.deepEqual(
      channels[0]?.members().map((m) => m.name),
      ['d2'],
    )
  })

  it('with acceptUnlisted, a member that pings before the list names it joins at once; without, it does not', async () => {
    const [open, strict, newcomer] = await freePorts(3)
    const start = (name: string, port: number, list: AddressList, acceptUnlisted: boolean) => {
      const c = createChannel({
        name,
        receiver: { host: '127.0.0.1', port, autoBind: 1 },
        membership: { type: 'dynamic', source: list, pingInterval: 200, expireTime: 2000, acceptUnlisted },
      })
      channels.push(c)
      return c
    }
    const at = (port: number | undefined) => ({ host: '127.0.0.1', port: port as number })
    const a = start('open', open as number, new AddressList([at(open)]), true)
    const b = start('strict', strict as number, new AddressList([at(strict)]), false)
    await Promise.all([a.start(), b.start()])
    // The newcomer's list names both; theirs do not name it (yet).
    const n = start('newcomer', newcomer as number, new AddressList([at(open), at(strict)]), false)
    await n.start()
    await waitForMembers(a, 1)
    assert.deepEqual(
      a.members().map((m) => m.name),
      ['newcomer'],
    )
    await new Promise((r) => setTimeout(r, 600)) // three ping rounds
    assert.deepEqual(b.members(), [])
  })
})
