/** The node-process helpers, shared with the benchmarks and scripts (scripts/lib/node-process.ts). */
export * from '../../scripts/lib/node-process.ts'
