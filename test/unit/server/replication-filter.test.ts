/**
 * The ReplicationValve filter as Tomcat applies it (node/server/replication-filter.ts): the pattern
 * matches the whole decoded path, and the query string is not looked at.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { filterPathOf, replicationFilterOf } from '../../../node/server/replication-filter.ts'
import { DEFAULT_REPLICATION_FILTER } from '../../../node/server/session-plugin.ts'

const filtered = (pattern: string, url: string) => {
  const re = replicationFilterOf(pattern)
  return re ? re.test(filterPathOf(url)) : false
}

test('the default filter matches static resources by their path, whatever the query string', () => {
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/logo.png'), true)
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/app.js?v=3'), true)
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/cart'), false)
  // The query string is not part of the path: a value ending in .css does not make the request static.
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/cart?theme=dark.css'), false)
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, `/shop/cart?v=${'x'.repeat(64 * 1024)}.txt`), false)
})

test('a pattern matches the whole path, as Tomcat matches it, not a part of it', () => {
  assert.equal(filtered('/static/.*', '/static/a/b.bin'), true)
  assert.equal(filtered('/static/.*', '/app/static/a.bin'), false)
  assert.equal(filtered('\\.css', '/a.css'), false, 'a fragment alone does not match the whole path')
})

test('percent-escapes in the path are decoded; an empty pattern filters nothing', () => {
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/logo%2Epng'), true, 'an escaped dot is a dot')
  assert.equal(filtered(DEFAULT_REPLICATION_FILTER, '/shop/l%C3%B6go.png'), true)
  assert.equal(filterPathOf('/a%20b?x=1'), '/a b')
  assert.equal(filterPathOf('/bad%E0%A4%A'), '/bad%E0%A4%A', 'a malformed escape is matched as it is')
  assert.equal(replicationFilterOf(''), undefined)
  assert.equal(replicationFilterOf(undefined), undefined)
  const library = replicationFilterOf(/.*\.CSS/i) as RegExp
  assert.equal(library.test(filterPathOf('/a/site.css?v=1')), true, "a RegExp's flags are kept")
  assert.equal(library.test('/a/site.css/more'), false, 'and it matches the whole path too')
})
