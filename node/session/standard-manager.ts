import type { ClusterManager } from './cluster-manager.ts'
import { BaseManager } from './manager.ts'

const NONE = Object.freeze({ sent: Object.freeze({}), received: Object.freeze({}) })

/**
 * Tomcat's StandardManager: sessions of a context that is not distributable live on one node only.
 * It replicates nothing: it ignores session messages, and a joining member gets nothing from it.
 */
export class StandardManager extends BaseManager implements ClusterManager {
  readonly kind = 'standard' as const
  readonly distributable = false

  receive(): undefined {
    return undefined
  }

  async sendState(): Promise<boolean> {
    return false
  }

  messageCounts(): typeof NONE {
    return NONE
  }
}
