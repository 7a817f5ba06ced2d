import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type FarmReport, FarmReports } from '../../../node/farm/reports.ts'

const A = 'a'.repeat(64)
const B = 'b'.repeat(64)
const ok = (at: number, digest: string | null, member = 'n1', name = 'shop'): FarmReport => ({
  member,
  name,
  digest,
  ok: true,
  at,
})
const failed = (at: number, digest: string | null, member = 'n1', name = 'shop'): FarmReport => ({
  member,
  name,
  digest,
  ok: false,
  code: 'CATTERY_ERR_APP_SETTINGS_CHANGED',
  reason: `application ${name}: refused`,
  at,
})
/** What the reports say, as `member digest ok|failed`, in a stable order. */
const said = (reports: FarmReports) =>
  reports
    .all()
    .map((r) => `${r.member} ${r.digest?.[0] ?? '-'} ${r.ok ? 'ok' : 'failed'}`)
    .sort()

describe('the farm reports of what each member runs', () => {
  const table: Array<[string, FarmReport[], string[]]> = [
    ['a member runs one version: running B replaces running A', [ok(1, A), ok(2, B)], ['n1 b ok']],
    ['an older report of running A does not replace running B', [ok(2, B), ok(1, A)], ['n1 b ok']],
    ['an undeploy replaces running A', [ok(1, A), ok(2, null)], ['n1 - ok']],
    [
      'a refused redeploy keeps the report that the member runs the version it ran',
      [ok(1, A), failed(2, B)],
      ['n1 a ok', 'n1 b failed'],
    ],
    [
      'a refused upload (no digest) keeps the report that the member runs A',
      [ok(1, A), failed(2, null)],
      ['n1 - failed', 'n1 a ok'],
    ],
    ['running A after failing it replaces the failure', [failed(1, A), ok(2, A)], ['n1 a ok']],
    [
      'failing A after running it replaces the report that it runs A',
      [ok(1, A), failed(2, A)],
      ['n1 a failed'],
    ],
    [
      'running B after failing A keeps the failure of A (a refusal of another version)',
      [failed(1, A), ok(2, B)],
      ['n1 a failed', 'n1 b ok'],
    ],
    ['reports of other members are their own', [ok(1, A), ok(2, B, 'n2')], ['n1 a ok', 'n2 b ok']],
  ]
  for (const [name, reports, want] of table)
    it(name, () => {
      const r = new FarmReports()
      for (const report of reports) r.set(report)
      assert.deepEqual(said(r), want)
    })

  it('a member that runs A again after a refused redeploy and an undeploy is listed once', () => {
    const r = new FarmReports()
    for (const report of [ok(1, A), failed(2, B), ok(3, null), ok(4, A)]) r.set(report)
    assert.deepEqual(said(r), ['n1 a ok', 'n1 b failed'])
  })

  it('forgets a member that left, with all its reports', () => {
    const r = new FarmReports()
    for (const report of [ok(1, A), failed(2, B), ok(1, A, 'n2')]) r.set(report)
    r.dropMember('n1')
    assert.deepEqual(said(r), ['n2 a ok'])
    r.set(ok(5, B))
    assert.deepEqual(said(r), ['n1 b ok', 'n2 a ok'])
  })
})
