import { collectDefaultMetrics, Histogram, Registry } from 'prom-client'
import type { EntityType } from '../platform/queue.ts'
import type { SyncMetrics } from '../sync/sync-workers.ts'

/** Upper bounds of the HTTP duration buckets, in seconds. */
const REQUEST_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Upper bounds of the push and merge duration buckets, in seconds; both wait on HAPI. */
const SYNC_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

/**
 * The registry's Prometheus metrics: one prom-client registry per `Metrics`, never the global
 * default one, so several registries can run in one process (as the tests do).
 */
export class Metrics implements SyncMetrics {
  readonly registry = new Registry()
  readonly #requestDuration: Histogram<'method' | 'route' | 'status'>
  readonly #pushDuration: Histogram<'entity_type' | 'outcome'>
  readonly #mergeDuration: Histogram<'entity_type' | 'outcome'>

  constructor(options: { processMetrics: boolean } = { processMetrics: true }) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry })
    this.#requestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Duration of HTTP requests, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: REQUEST_BUCKETS_SECONDS,
      registers: [this.registry],
    })
    this.#pushDuration = new Histogram({
      name: 'brain_registry_fhir_push_duration_seconds',
      help: 'Duration of pushes of registry rows to FHIR, by entity type and outcome; rows written in one transaction Bundle each observe the Bundle duration',
      labelNames: ['entity_type', 'outcome'],
      buckets: SYNC_BUCKETS_SECONDS,
      registers: [this.registry],
    })
    this.#mergeDuration = new Histogram({
      name: 'brain_registry_fhir_merge_duration_seconds',
      help: 'Duration of merges of FHIR changes into the registry, by entity type and outcome',
      labelNames: ['entity_type', 'outcome'],
      buckets: SYNC_BUCKETS_SECONDS,
      registers: [this.registry],
    })
  }

  /** Records one HTTP request; `route` is the route template, never the path with its ids. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.#requestDuration.observe({ method, route, status: String(status) }, seconds)
  }

  observePush(entityType: EntityType, outcome: string, seconds: number): void {
    this.#pushDuration.observe({ entity_type: entityType, outcome }, seconds)
  }

  observeMerge(entityType: EntityType, outcome: string, seconds: number): void {
    this.#mergeDuration.observe({ entity_type: entityType, outcome }, seconds)
  }

  /** Content type of `render()`'s output: the Prometheus text format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType
  }

  /** Collects every metric, reading the database gauges once, and renders the text format. */
  async render(): Promise<string> {
    return this.registry.metrics()
  }
}
