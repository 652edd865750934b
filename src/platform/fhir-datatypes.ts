import { z } from '@hono/zod-openapi'
import { fhirDateTimeSchema } from './schemas.ts'

// FHIR R4 data types as the API accepts them. Each lists every member the type has, so that a
// client can send back what it read (periods, types, extensions) without loss, and an unknown
// member is rejected rather than silently dropped.

const extensionSchema = z.looseObject({ url: z.string().min(1) })

const elementMembers = {
  id: z.string().min(1).optional(),
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
    version: z.string().min(1).optional(),
    code: z.string().min(1).optional(),
    display: z.string().min(1).optional(),
    userSelected: z.boolean().optional(),
  })
  .openapi('Coding', {
    example: { system: 'http://snomed.info/sct', code: '84757009', display: 'Epilepsy' },
  })

export const codeableConceptSchema = z
  .strictObject({
    ...elementMembers,
    coding: z.array(codingSchema).optional(),
    text: z.string().min(1).optional(),
  })
  .openapi('CodeableConcept')

const referenceSchema = z.strictObject({
  ...elementMembers,
  reference: z.string().min(1).optional(),
  type: z.string().min(1).optional(),
  display: z.string().min(1).optional(),
})

export const humanNameSchema = z
  .strictObject({
    ...elementMembers,
    use: z.enum(['usual', 'official', 'temp', 'nickname', 'anonymous', 'old', 'maiden']).optional(),
    text: z.string().min(1).optional(),
    family: z.string().min(1).optional(),
    given: z.array(z.string().min(1)).optional(),
    prefix: z.array(z.string().min(1)).optional(),
    suffix: z.array(z.string().min(1)).optional(),
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
    value: z.string().min(1).optional(),
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
    value: z.string().min(1).optional(),
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
    text: z.string().min(1).optional(),
    line: z.array(z.string().min(1)).optional(),
    city: z.string().min(1).optional(),
    district: z.string().min(1).optional(),
    state: z.string().min(1).optional(),
    postalCode: z.string().min(1).optional(),
    country: z.string().min(1).optional(),
    period: periodSchema.optional(),
  })
  .openapi('Address', { example: { line: ['12 Queen Square'], city: 'London', country: 'GB' } })
