/** The interceptor types a channel can stack, in the order Tribes documents them. */
export const INTERCEPTOR_TYPES = [
  'TcpFailureDetector',
  'MessageDispatch',
  'Throughput',
  'DomainFilter',
  'Order',
  'Fragmentation',
  'Gzip',
  'Encrypt',
  'TcpPing',
] as const
