import { z } from '@hono/zod-openapi'
import {
  MAX_CODE_LENGTH,
  MAX_LIST_ITEMS,
  MAX_PARTS,
  MAX_SHORT_TEXT_LENGTH,
  MAX_TEXT_LENGTH,
  MAX_URI_LENGTH,
} from './input-limits.ts'
import { fhirDateTimeSchema } from './schemas.ts'

// FHIR R4 data types as the API accepts them. Each lists every member the type has, so that a
// client can send back what it read (periods, types, extensions) without loss, and an unknown
// member is rejected rather than silently dropped.

/**
 * A FHIR string of at most `maxLength` characters, with at least one character other than
 * whitespace and no NUL. HAPI drops a value of whitespace only, so the registry would hold a
 * value that never reaches FHIR and every drift verification would report the field as
 * diverged. Postgres cannot store NUL (U+0000) in text or jsonb.
 */
export function fhirStringSchema(maxLength: number) {
  return z
    .string()
    .max(maxLength)
    .regex(/\S/, { error: 'Must contain a character other than whitespace' })
    .refine((value) => !value.includes('\u0000'), { error: 'Must not contain NUL (\\u0000)' })
}

const codeSchema = fhirStringSchema(MAX_CODE_LENGTH)
const shortTextSchema = fhirStringSchema(MAX_SHORT_TEXT_LENGTH)
const longTextSchema = fhirStringSchema(MAX_TEXT_LENGTH)
const urlSchema = z.url().max(MAX_URI_LENGTH)

// The value of an extension may be of any FHIR type, so only its url is checked here. The
// request body limit alone bounds the rest.
const extensionSchema = z.looseObject({ url: z.string().min(1).max(MAX_URI_LENGTH) })

const elementMembers = {
  id: codeSchema.optional(),
  extension: z.array(extensionSchema).max(MAX_LIST_ITEMS).optional(),
}

/**
 * True when `start` lies after `end` (FHIR invariant per-1). Two times are compared as instants;
 * otherwise the dates are compared at the precision both share, so `2015` and `2015-03` pass.
 */
function startsAfterEnd(start: string, end: string): boolean {
  if (start.includes('T') && end.includes('T')) return Date.parse(start) > Date.parse(end)
  const shared = Math.min(start.slice(0, 10).length, end.slice(0, 10).length)
  return start.slice(0, shared) > end.slice(0, shared)
}

export const periodSchema = z
  .strictObject({
    ...elementMembers,
    start: fhirDateTimeSchema.optional(),
    end: fhirDateTimeSchema.optional(),
  })
  .refine(
    (period) =>
      period.start === undefined ||
      period.end === undefined ||
      !startsAfterEnd(period.start, period.end),
    { error: 'The period starts after it ends', path: ['end'] },
  )

/** A FHIR Quantity, such as an Age, with a required value. */
export const quantitySchema = z
  .strictObject({
    ...elementMembers,
    value: z.number(),
    comparator: z.enum(['<', '<=', '>=', '>']).optional(),
    unit: shortTextSchema.optional(),
    system: urlSchema.optional(),
    code: codeSchema.optional(),
  })
  .openapi('Quantity', {
    example: { value: 52, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' },
  })

export const rangeSchema = z
  .strictObject({
    ...elementMembers,
    low: quantitySchema.optional(),
    high: quantitySchema.optional(),
  })
  .openapi('Range')

export const codingSchema = z
  .strictObject({
    ...elementMembers,
    system: urlSchema.optional(),
    version: codeSchema.optional(),
    code: codeSchema.optional(),
    display: shortTextSchema.optional(),
    userSelected: z.boolean().optional(),
  })
  .openapi('Coding', {
    example: { system: 'http://snomed.info/sct', code: '84757009', display: 'Epilepsy' },
  })

export const codeableConceptSchema = z
  .strictObject({
    ...elementMembers,
    coding: z.array(codingSchema).max(MAX_LIST_ITEMS).optional(),
    text: longTextSchema.optional(),
  })
  .openapi('CodeableConcept')

const referenceSchema = z.strictObject({
  ...elementMembers,
  reference: fhirStringSchema(MAX_URI_LENGTH).optional(),
  type: fhirStringSchema(MAX_URI_LENGTH).optional(),
  display: shortTextSchema.optional(),
})

export const humanNameSchema = z
  .strictObject({
    ...elementMembers,
    use: z.enum(['usual', 'official', 'temp', 'nickname', 'anonymous', 'old', 'maiden']).optional(),
    text: longTextSchema.optional(),
    family: shortTextSchema.optional(),
    given: z.array(shortTextSchema).max(MAX_PARTS).optional(),
    prefix: z.array(shortTextSchema).max(MAX_PARTS).optional(),
    suffix: z.array(shortTextSchema).max(MAX_PARTS).optional(),
    period: periodSchema.optional(),
  })
  .openapi('HumanName', {
    example: { use: 'official', family: 'Ordóñez', given: ['Bernardo', 'José'] },
  })

export const identifierSchema = z
  .strictObject({
    ...elementMembers,
    use: z.enum(['usual', 'official', 'temp', 'secondary', 'old']).optional(),
    type: codeableConceptSchema.optional(),
    system: urlSchema.optional(),
    value: codeSchema.optional(),
    period: periodSchema.optional(),
    assigner: referenceSchema.optional(),
  })
  .openapi('Identifier', {
    example: { system: 'urn:oid:2.16.840.1.113883.4.3.25', value: '999-12-3456' },
  })

export const contactPointSchema = z
  .strictObject({
    ...elementMembers,
    system: z.enum(['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other']).optional(),
    value: fhirStringSchema(MAX_URI_LENGTH).optional(),
    use: z.enum(['home', 'work', 'temp', 'old', 'mobile']).optional(),
    rank: z.number().int().min(1).optional(),
    period: periodSchema.optional(),
  })
  // FHIR invariant cpt-2: a contact point with a value names the system it belongs to.
  .refine((contact) => contact.value === undefined || contact.system !== undefined, {
    error: 'A contact point with a value needs a system',
    path: ['system'],
  })
  .openapi('ContactPoint', {
    example: { system: 'phone', value: '+44 20 7946 0958', use: 'mobile' },
  })

export const addressSchema = z
  .strictObject({
    ...elementMembers,
    use: z.enum(['home', 'work', 'temp', 'old', 'billing']).optional(),
    type: z.enum(['postal', 'physical', 'both']).optional(),
    text: longTextSchema.optional(),
    line: z.array(shortTextSchema).max(MAX_PARTS).optional(),
    city: shortTextSchema.optional(),
    district: shortTextSchema.optional(),
    state: shortTextSchema.optional(),
    postalCode: codeSchema.optional(),
    country: shortTextSchema.optional(),
    period: periodSchema.optional(),
  })
  .openapi('Address', { example: { line: ['12 Queen Square'], city: 'London', country: 'GB' } })
