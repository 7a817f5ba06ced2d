/**
 * A new session's id under the BackupManager (node/session/primary-id.ts): its creator is its
 * primary in the view; with the creator out of the view, any id is taken.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PlacementView } from '../../../node/session/placement.ts'
import { primaryIdBase } from '../../../node/session/primary-id.ts'

test('the id drawn ranks its creator first among its owners', () => {
  const view = new PlacementView(['aaaa', 'bbbb', 'cccc', 'dddd'])
  for (const self of view.members)
    for (let i = 0; i < 20; i++) {
      const id = primaryIdBase(view, self)
      assert.match(id, /^[0-9A-F]{32}$/)
      assert.equal(view.owners(id, 2)[0], self)
    }
})

test('a creator that is not in the view still gets an id', () => {
  const id = primaryIdBase(new PlacementView(['aaaa']), 'zzzz')
  assert.match(id, /^[0-9A-F]{32}$/)
})
