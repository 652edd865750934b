import { z } from '@hono/zod-openapi'
import { fhirViewSchema } from '../fhir/fhir-view.ts'
import {
  addressSchema,
  contactPointSchema,
  fhirStringSchema,
  humanNameSchema,
  identifierSchema,
} from '../platform/fhir-datatypes.ts'
import {
  MAX_CODE_LENGTH,
  MAX_LIST_ITEMS,
  MAX_SHORT_TEXT_LENGTH,
  MAX_URI_LENGTH,
} from '../platform/input-limits.ts'
import { fhirDateSchema, fhirDateTimeSchema, syncStatusSchema } from '../platform/schemas.ts'
import { ValidationError } from '../platform/errors.ts'
import { ADMINISTRATIVE_GENDER_VALUE_SET, codesOf } from '../reference/value-sets.ts'

/** True when a FHIR date or dateTime lies after today, compared at the value's own precision. */
function isInFuture(value: string): boolean {
  const date = value.slice(0, 10)
  return date > new Date().toISOString().slice(0, date.length)
}

export const deceasedSchema = z
  .union([
    z.strictObject({ boolean: z.boolean() }),
    z.strictObject({
      dateTime: fhirDateTimeSchema.refine((value) => !isInFuture(value), {
        error: 'A date of death cannot be in the future',
      }),
    }),
  ])
  .nullable()
  .openapi({ description: 'FHIR deceased[x]: either a flag or the date and time of death' })

/** Schema of each patient field on its own, without defaults. */
export const patientFieldSchemas = {
  names: z.array(humanNameSchema).max(MAX_LIST_ITEMS),
  birthDate: fhirDateSchema
    .refine((value) => !isInFuture(value), { error: 'A birth date cannot be in the future' })
    .nullable(),
  gender: z.enum(codesOf(ADMINISTRATIVE_GENDER_VALUE_SET)).nullable(),
  identifiers: z.array(identifierSchema).max(MAX_LIST_ITEMS),
  telecom: z.array(contactPointSchema).max(MAX_LIST_ITEMS),
  addresses: z.array(addressSchema).max(MAX_LIST_ITEMS),
  deceased: deceasedSchema,
}

/** The patient fields that the registry keeps in step with the FHIR Patient. */
export const patientFieldsSchema = z.strictObject({
  names: patientFieldSchemas.names.default([]),
  birthDate: patientFieldSchemas.birthDate.default(null),
  gender: patientFieldSchemas.gender.default(null),
  identifiers: patientFieldSchemas.identifiers.default([]),
  telecom: patientFieldSchemas.telecom.default([]),
  addresses: patientFieldSchemas.addresses.default([]),
  deceased: patientFieldSchemas.deceased.default(null),
})

export type PatientFields = z.infer<typeof patientFieldsSchema>

/**
 * Rejects a date of death before the birth date, compared at the precision both share, so
 * `1980` against a death in `1980-05` passes.
 */
export function checkDeathAfterBirth(fields: Pick<PatientFields, 'birthDate' | 'deceased'>): void {
  const { birthDate, deceased } = fields
  if (birthDate === null || deceased === null || !('dateTime' in deceased)) return
  const death = deceased.dateTime.slice(0, 10)
  const shared = Math.min(birthDate.length, death.length)
  if (death.slice(0, shared) < birthDate.slice(0, shared)) {
    throw new ValidationError('The patient cannot have died before being born', [
      { path: 'deceased.dateTime', message: `Is before the birth date ${birthDate}` },
    ])
  }
}

export const createPatientSchema = patientFieldsSchema.openapi('PatientInput')

// Built without defaults, because zod fills in defaults even inside .partial(), and a patch that
// names one field must leave the others as they are.
export const patchPatientSchema = z
  .strictObject(patientFieldSchemas)
  .partial()
  .openapi('PatientPatch')

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

export const patientListQuerySchema = z.strictObject({
  name: fhirStringSchema(MAX_SHORT_TEXT_LENGTH)
    .optional()
    .openapi({ description: 'Prefix of any name part, any case' }),
  identifier: fhirStringSchema(MAX_URI_LENGTH + 1 + MAX_CODE_LENGTH)
    // An empty value would match no identifier in the search, and the filter would be dropped.
    .refine((value) => !value.endsWith('|'), {
      error: 'Must have a value after the bar, as system|value',
    })
    .optional()
    .openapi({
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

export const patientFhirViewSchema = fhirViewSchema(
  'Patient',
  patientFieldsSchema,
  '5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b',
)

export type PatientFhirView = z.infer<typeof patientFhirViewSchema>
