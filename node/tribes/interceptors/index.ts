import { CatteryError, codes } from '../errors.ts'
import type { Interceptor } from '../interceptor.ts'
import type { InterceptorConfig } from '../options.ts'
import { DomainFilterInterceptor } from './domain-filter.ts'
import { EncryptInterceptor } from './encrypt.ts'
import { FragmentationInterceptor } from './fragmentation.ts'
import { GzipInterceptor } from './gzip.ts'
import { MessageDispatchInterceptor } from './message-dispatch.ts'
import { OrderInterceptor } from './order.ts'
import { TcpFailureDetector } from './tcp-failure-detector.ts'
import { TcpPingInterceptor } from './tcp-ping.ts'
import { ThroughputInterceptor } from './throughput.ts'
import { INTERCEPTOR_TYPES } from './types.ts'

/** Builds one interceptor from its configuration (throws a coded error for a bad one). */
export function createInterceptor(config: InterceptorConfig): Interceptor {
  switch (config.type) {
    case 'TcpFailureDetector':
      return new TcpFailureDetector(config)
    case 'MessageDispatch':
      return new MessageDispatchInterceptor(config)
    case 'Throughput':
      return new ThroughputInterceptor(config)
    case 'DomainFilter':
      return new DomainFilterInterceptor(config)
    case 'Order':
      return new OrderInterceptor(config)
    case 'Fragmentation':
      return new FragmentationInterceptor(config)
    case 'Gzip':
      return new GzipInterceptor(config)
    case 'Encrypt':
      return new EncryptInterceptor(config)
    case 'TcpPing':
      return new TcpPingInterceptor(config)
    default:
      throw new CatteryError(
        codes.BAD_INTERCEPTOR,
        `unknown interceptor type '${(config as { type: unknown }).type}' (allowed: ${INTERCEPTOR_TYPES.join(', ')})`,
      )
  }
}
