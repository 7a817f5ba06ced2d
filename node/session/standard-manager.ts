import { BaseManager } from './manager.ts'

/** Tomcat's StandardManager: sessions of a context that is not distributable live on one node only. */
export class StandardManager extends BaseManager {
  readonly kind = 'standard' as const
}
