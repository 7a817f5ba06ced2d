import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { appNameOf, contextPathOf, inContext, isContextPath } from '../../../node/server/context-name.ts'

describe('context names as Tomcat names them', () => {
  it('maps names to paths: ROOT to /, # to /', () => {
    const table: Array<[string, string | undefined]> = [
      ['ROOT', '/'],
      ['shop', '/shop'],
      ['shop#v2', '/shop/v2'],
      ['a.b_c~d-e', '/a.b_c~d-e'],
      ['', undefined],
      ['shop##2', undefined],
      ['..', undefined],
      ['a#..#b', undefined],
      ['a/b', undefined],
      ['shop v2', undefined],
    ]
    for (const [name, path] of table) assert.equal(contextPathOf(name), path, name)
  })

  it('accepts / and /segments as a cattery.path, nothing that climbs or ends in a slash', () => {
    for (const p of ['/', '/shop', '/shop/v2']) assert.ok(isContextPath(p), p)
    for (const p of ['', 'shop', '/shop/', '//', '/a/../b', '/a b']) assert.ok(!isContextPath(p), p)
  })

  it('names an archive after its file without .tgz or .tar.gz', () => {
    assert.equal(appNameOf('shop.tgz'), 'shop')
    assert.equal(appNameOf('shop#v2.tar.gz'), 'shop#v2')
    assert.equal(appNameOf('shop'), 'shop')
  })

  it('puts a request in a context only at a segment boundary', () => {
    assert.ok(inContext('/shop', '/shop'))
    assert.ok(inContext('/shop', '/shop/cart'))
    assert.ok(inContext('/shop', '/shop?x=1'))
    assert.ok(!inContext('/shop', '/shopping'))
    assert.ok(inContext('/', '/anything'))
  })
})
