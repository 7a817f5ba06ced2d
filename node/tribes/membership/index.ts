import type { Logger } from 'pino'
import { CatteryError, codes } from '../errors.ts'
import { parseAddress } from '../member.ts'
import type { MembershipOptions } from '../options.ts'
import type { ChannelSecurity } from '../security/channel-security.ts'
import { AddressList } from './dynamic.ts'
import { KubernetesMemberSource } from './kubernetes.ts'
import { MulticastMembership } from './multicast.ts'
import { ProbeMembership } from './probe-membership.ts'
import type { MembershipService } from './service.ts'

export function createMembership(
  options: MembershipOptions,
  logger: Logger,
  security: ChannelSecurity,
): MembershipService {
  switch (options.type) {
    case 'multicast':
      return new MulticastMembership(options, logger, security)
    case 'static': {
      const addresses = options.members.map((entry) => {
        const a = parseAddress(entry)
        if (!a)
          throw new CatteryError('CATTERY_ERR_CONFIG', `membership.members: '${entry}' is not host:port`)
        return a
      })
      return new ProbeMembership(new AddressList(addresses), options, logger, security)
    }
    case 'kubernetes':
      return new ProbeMembership(
        new KubernetesMemberSource(options, logger),
        { ...options, acceptUnlisted: true },
        logger,
        security,
      )
    case 'dynamic':
      return new ProbeMembership(options.source, options, logger, security)
    default:
      throw new CatteryError(
        codes.BAD_INTERCEPTOR,
        `unknown membership type '${(options as { type: string }).type}'`,
      )
  }
}
