import { z } from '@hono/zod-openapi'
import { fhirDateTimeSchema } from './schemas.ts'

// FHIR R4 data types as the API accepts them. Each lists every member the type has, so that a
// client can send back what it read (periods, types, extensions) without loss, and an unknown
// member is rejected rather than silently dropped.

/**
 * A FHIR string with at least one character other than whitespace. HAPI drops a value of
 * whitespace only, so the registry would hold a value that never reaches FHIR and every drift
 * verification would report the field as diverged.
 */
const textSchema = z
  .string()
  .regex(/\S/, { error: 'Must contain a character other than whitespace' })

const extensionSchema = z.looseObject({ url: z.string().min(1) })

const elementMembers = {
  id: textSchema.optional(),
  extension: z.array(extensionSchema).optional(),
}

export const periodSchema = z.strictObject({
  ...elementMembers,
  start: fhirDateTimeSchema.optional(),
  end: fhirDateTimeSchema.optional(),
})

export const codingSchema = z
  .strictObject({
    ...elementMembers,
    system: z.url().optional(),
    version: textSchema.optional(),
    code: textSchema.optional(),
    display: textSchema.optional(),
    userSelected: z.boolean().optional(),
  })
  .openapi('Coding', {
    example: { system: 'http://snomed.info/sct', code: '84757009', display: 'Epilepsy' },
  })

export const codeableConceptSchema = z
  .strictObject({
    ...elementMembers,
    coding: z.array(codingSchema).optional(),
    text: textSchema.optional(),
  })
  .openapi('CodeableConcept')

const referenceSchema = z.strictObject({
  ...elementMembers,
  reference: textSchema.optional(),
  type: textSchema.optional(),
  display: textSchema.optional(),
})

export const humanNameSchema = z
  .strictObject({
    ...elementMembers,
    use: z.enum(['usual', 'official', 'temp', 'nickname', 'anonymous', 'old', 'maiden']).optional(),
    text: textSchema.optional(),
    family: textSchema.optional(),
    given: z.array(textSchema).optional(),
    prefix: z.array(textSchema).optional(),
    suffix: z.array(textSchema).optional(),
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
    system: z.url().optional(),
    value: textSchema.optional(),
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
    value: textSchema.optional(),
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
    text: textSchema.optional(),
    line: z.array(textSchema).optional(),
    city: textSchema.optional(),
    district: textSchema.optional(),
    state: textSchema.optional(),
    postalCode: textSchema.optional(),
    country: textSchema.optional(),
    period: periodSchema.optional(),
  })
  .openapi('Address', { example: { line: ['12 Queen Square'], city: 'London', country: 'GB' } })
