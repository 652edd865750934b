/**
 * A rest-hook receiver that does nothing but record when each delivery arrives, so a benchmark can
 * tell HAPI's own delivery delay from the time a real receiver adds.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FhirClient } from '../../src/fhir/fhir-client.ts'
import { ensureSubscriptions } from '../../src/fhir/subscriptions.ts'
import type { Logger } from '../../src/platform/logger.ts'
import { SYNCED_RESOURCE_TYPES } from '../../src/platform/sync-modes.ts'

export interface BareReceiver {
  url: string
  /**
   * Returns when the first delivery of this version of the resource arrived, as
   * `performance.now()` of this process in milliseconds, or undefined before it arrives.
   */
  arrivalOf(resourceType: string, id: string, versionId: number): number | undefined
  close(): Promise<void>
}

/**
 * Starts a `node:http` server on 127.0.0.1 and registers Subscriptions for it on HAPI with the
 * same criteria, payload and channel settings as the registry's, under the ids `<idPrefix>-<type>`.
 * Returns once HAPI reports them active. The caller deletes them with `deleteSubscriptions`.
 */
export async function startBareReceiver(
  fhir: FhirClient,
  idPrefix: string,
  logger: Logger,
): Promise<BareReceiver> {
  const arrivals = new Map<string, number>()
  const server = createServer((request, response) => {
    // Taken before the body is read, when the request's start reaches the receiver.
    const arrivedAt = performance.now()
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      response.writeHead(200).end()
      const key = deliveryKey(request.url ?? '', Buffer.concat(chunks).toString('utf8'))
      if (key !== null && !arrivals.has(key)) arrivals.set(key, arrivedAt)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const url = `http://127.0.0.1:${String(port)}/bare-hook`

  await ensureSubscriptions(
    fhir,
    { idPrefix, endpoint: url, secret: `bare-${crypto.randomUUID()}` },
    SYNCED_RESOURCE_TYPES,
    logger,
  )
  return {
    url,
    arrivalOf: (resourceType, id, versionId) =>
      arrivals.get(`${resourceType}/${id}/${String(versionId)}`),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => {
          if (error) reject(error)
          else resolve()
        })
        server.closeAllConnections()
      }),
  }
}

/** Returns `Type/id/versionId` of a PUT delivery, or null for one without a versioned resource. */
function deliveryKey(path: string, body: string): string | null {
  if (body.trim() === '') return null
  try {
    const resource = JSON.parse(body) as {
      resourceType?: string
      id?: string
      meta?: { versionId?: string }
    }
    if (!resource.resourceType || !resource.id || !resource.meta?.versionId) return null
    return `${resource.resourceType}/${resource.id}/${resource.meta.versionId}`
  } catch {
    process.stderr.write(`Bare receiver: the body of ${path} is not JSON\n`)
    return null
  }
}
