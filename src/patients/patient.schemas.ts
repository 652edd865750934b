import { z } from '@hono/zod-openapi'
import { fhirDateSchema, fhirDateTimeSchema, syncStatusSchema } from '../platform/schemas.ts'

const periodSchema = z.object({
  start: fhirDateTimeSchema.optional(),
  end: fhirDateTimeSchema.optional(),
})

export const humanNameSchema = z
  .object({
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
  .object({
    use: z.enum(['usual', 'official', 'temp', 'secondary', 'old']).optional(),
    system: z.url(),
    value: z.string().min(1),
  })
  .openapi('Identifier', {
    example: { system: 'urn:oid:2.16.840.1.113883.4.3.25', value: '999-12-3456' },
  })

export const contactPointSchema = z
  .object({
    system: z.enum(['phone', 'fax', 'email', 'pager', 'url', 'sms', 'other']),
    value: z.string().min(1),
    use: z.enum(['home', 'work', 'temp', 'old', 'mobile']).optional(),
    rank: z.number().int().min(1).optional(),
  })
  .openapi('ContactPoint', {
    example: { system: 'phone', value: '+44 20 7946 0958', use: 'mobile' },
  })

export const addressSchema = z
  .object({
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

export const deceasedSchema = z
  .union([z.object({ boolean: z.boolean() }), z.object({ dateTime: fhirDateTimeSchema })])
  .nullable()
  .openapi({ description: 'FHIR deceased[x]: either a flag or the date and time of death' })

/** The patient fields that the registry keeps in step with the FHIR Patient. */
export const patientFieldsSchema = z.object({
  names: z.array(humanNameSchema).default([]),
  birthDate: fhirDateSchema.nullable().default(null),
  gender: z.enum(['male', 'female', 'other', 'unknown']).nullable().default(null),
  identifiers: z.array(identifierSchema).default([]),
  telecom: z.array(contactPointSchema).default([]),
  addresses: z.array(addressSchema).default([]),
  deceased: deceasedSchema.default(null),
})

export type HumanName = z.infer<typeof humanNameSchema>
export type PatientFields = z.infer<typeof patientFieldsSchema>

export const createPatientSchema = patientFieldsSchema.openapi('PatientInput')

export const patchPatientSchema = patientFieldsSchema.partial().openapi('PatientPatch')

export const patientSchema = patientFieldsSchema
  .extend({
    id: z.uuid(),
    source: z.enum(['registry', 'external']),
    version: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    updatedBy: z.string(),
    sync: syncStatusSchema,
  })
  .openapi('Patient')

export type Patient = z.infer<typeof patientSchema>

export const patientListQuerySchema = z.object({
  name: z.string().min(1).optional().openapi({ description: 'Prefix of any name part, any case' }),
  identifier: z.string().min(1).optional().openapi({
    description: '`system|value` or a bare value',
    example: 'urn:oid:2.16.840.1.113883.4.3.25|999-12-3456',
  }),
  fhirId: z
    .string()
    .regex(/^[A-Za-z0-9\-.]{1,64}$/)
    .optional()
    .openapi({ description: 'Id of the FHIR Patient the registry patient is synced with' }),
  birthDate: z
    .string()
    .regex(/^\d{4}(-\d{2}(-\d{2})?)?$/)
    .optional()
    .openapi({
      description: 'Birth dates that start with this year, month or day',
      example: '1980-05',
    }),
})
