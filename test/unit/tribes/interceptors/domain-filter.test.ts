import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codes } from '../../../../node/tribes/errors.ts'
import { DomainFilterInterceptor } from '../../../../node/tribes/interceptors/domain-filter.ts'
import { harness, peer } from '../../../helpers/interceptor-harness.ts'

describe('DomainFilter interceptor', () => {
  it('sees only members of its own domain', () => {
    const f = new DomainFilterInterceptor({ type: 'DomainFilter' })
    const h = harness(f, { domain: 'blue' })
    f.memberAdded(peer('x', 'blue'))
    f.memberAdded(peer('y', 'red'))
    assert.deepEqual(
      h.added.map((m) => m.name),
      ['x'],
    )
    assert.equal(f.stats().membersIgnored, 1)
  })

  it('refuses a message from another domain with DOMAIN_MISMATCH', () => {
    const h = harness(new DomainFilterInterceptor({ type: 'DomainFilter', domain: 'blue' }))
    h.receive(peer('y', 'red'), {})
    h.receive(peer('x', 'blue'), {})
    assert.equal(h.delivered.length, 1)
    assert.equal(h.acks[0]?.code, codes.DOMAIN_MISMATCH)
  })
})
