import type { Resource } from '@medplum/fhirtypes'
import { assertStorableJson } from '../platform/json-shape.ts'
import { AppError, ValidationError, type FieldError } from '../platform/errors.ts'

/** A FHIR R4 `id`. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/

/** A FHIR resource type name, such as `Patient`. */
export const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/

/** Notification resources of a Bundle that name no changed resource, so they are skipped. */
const NOTIFICATION_TYPES: readonly string[] = ['Parameters', 'SubscriptionStatus']

/** One resource change that a rest-hook notification reports. */
export interface Delivery {
  method: 'PUT' | 'DELETE'
  resourceType: string
  resourceId: string
  resource: Resource | null
}

type JsonObject = Record<string, unknown>

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads a notification body: null when it is empty, else a FHIR resource, or a 400. */
export function parseResource(text: string): Resource | null {
  if (text.trim() === '') return null
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new AppError(
      400,
      'MALFORMED_REQUEST',
      'The body is not valid JSON; send a FHIR resource as application/fhir+json',
    )
  }
  assertStorableJson(body)
  if (!isObject(body) || typeof body.resourceType !== 'string') {
    throw new ValidationError('The body is not a FHIR resource', [
      { path: 'resourceType', message: 'Required' },
    ])
  }
  return body as unknown as Resource
}

/** Checks that the body of a PUT is the resource that the path names. */
export function checkResourceMatchesPath(resource: Resource, type: string, id: string): void {
  const errors: FieldError[] = []
  if (resource.resourceType !== type) {
    errors.push({ path: 'resourceType', message: `Must be ${type}, as in the path` })
  }
  if (resource.id !== id) errors.push({ path: 'id', message: `Must be ${id}, as in the path` })
  if (errors.length > 0) {
    throw new ValidationError(
      `The body is ${resource.resourceType}/${resource.id ?? ''}, not ${type}/${id}`,
      errors,
    )
  }
}

/**
 * Turns the Bundle of a POST to the receiver (a history or transaction Bundle) into deliveries.
 * An entry that names no valid resource fails the whole Bundle with 400 before anything is
 * recorded, so a sender learns of the junk instead of having it dropped unseen.
 */
export function deliveriesOfBundle(bundle: Resource): Delivery[] {
  if (bundle.resourceType !== 'Bundle') {
    throw new ValidationError(`Expected a Bundle, got ${bundle.resourceType}`, [
      { path: 'resourceType', message: 'Must be Bundle' },
    ])
  }
  const entries: unknown = (bundle as unknown as JsonObject).entry ?? []
  if (!Array.isArray(entries)) {
    throw new ValidationError('The Bundle is invalid', [
      { path: 'entry', message: 'Must be a list of entries' },
    ])
  }

  const deliveries: Delivery[] = []
  const errors: FieldError[] = []
  for (const [index, entry] of entries.entries()) {
    const result = deliveryOfEntry(entry)
    if ('error' in result) errors.push({ path: `entry.${index}`, message: result.error })
    else if (result.delivery) deliveries.push(result.delivery)
  }
  if (errors.length > 0) {
    throw new ValidationError('The Bundle has invalid entries; none of it was recorded', errors)
  }
  return deliveries
}

interface ResourceLike extends JsonObject {
  resourceType: string
}

function isResource(value: unknown): value is ResourceLike {
  return isObject(value) && typeof value.resourceType === 'string'
}

function deliveryOfEntry(entry: unknown): { delivery: Delivery | null } | { error: string } {
  if (!isObject(entry)) return { error: 'Must be an object' }
  const { resource, request } = entry
  if (resource !== undefined && !isResource(resource)) {
    return { error: 'resource is not a FHIR resource' }
  }
  if (resource && NOTIFICATION_TYPES.includes(resource.resourceType)) return { delivery: null }
  if (request !== undefined && !isObject(request)) return { error: 'request must be an object' }
  const url = request?.url
  if (url !== undefined && typeof url !== 'string') return { error: 'request.url must be a string' }

  // `Patient/123`, `Patient/123/_history/2` or `Patient/123?_format=json`; else the resource's
  // own type and id.
  const ownId = typeof resource?.id === 'string' ? resource.id : ''
  const reference = url ?? (resource ? `${resource.resourceType}/${ownId}` : '')
  const [type = '', id = ''] = (reference.split('?')[0] ?? '').split('/')
  if (!RESOURCE_TYPE.test(type) || !FHIR_ID.test(id)) {
    return { error: 'Names no resource: give request.url as Type/id, or a resource with an id' }
  }
  if (resource && (resource.resourceType !== type || (resource.id ?? id) !== id)) {
    return { error: `resource is not ${type}/${id}, which request.url names` }
  }
  return {
    delivery: {
      method: request?.method === 'DELETE' ? 'DELETE' : 'PUT',
      resourceType: type,
      resourceId: id,
      resource: (resource as Resource | undefined) ?? null,
    },
  }
}
