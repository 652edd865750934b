import { z } from '@hono/zod-openapi'
import { fhirViewSchema } from '../fhir/fhir-view.ts'
import {
  codeableConceptSchema,
  fhirStringSchema,
  periodSchema,
  quantitySchema,
  rangeSchema,
} from '../platform/fhir-datatypes.ts'
import { MAX_CODE_LENGTH, MAX_TEXT_LENGTH, MAX_URI_LENGTH } from '../platform/input-limits.ts'
import { fhirDateTimeSchema, syncStatusSchema } from '../platform/schemas.ts'
import {
  CLINICAL_STATUS_VALUE_SET,
  VERIFICATION_STATUS_VALUE_SET,
  codesOf,
} from '../reference/value-sets.ts'

/**
 * FHIR onset[x] and abatement[x] as one object with exactly one member, named after the type
 * suffix: `{ "dateTime": "2015-01" }`, `{ "age": { "value": 52, "unit": "a" } }` and so on.
 */
export const conditionTimingSchema = z
  .union([
    z.strictObject({ dateTime: fhirDateTimeSchema }),
    z.strictObject({
      // FHIR's Age needs a positive value (invariant age-1); the cap keeps out values no unit
      // of age (years down to minutes) can reach.
      age: quantitySchema.refine((age) => age.value > 0 && age.value <= 100_000_000, {
        error: 'An age must be above 0 and at most 100,000,000',
        path: ['value'],
      }),
    }),
    z.strictObject({ period: periodSchema }),
    z.strictObject({ range: rangeSchema }),
    z.strictObject({ string: fhirStringSchema(MAX_TEXT_LENGTH) }),
  ])
  .nullable()
  .openapi('ConditionTiming', { example: { dateTime: '2015-01' } })

export const CLINICAL_STATUSES = codesOf(CLINICAL_STATUS_VALUE_SET)
export const VERIFICATION_STATUSES = codesOf(VERIFICATION_STATUS_VALUE_SET)

export const clinicalStatusSchema = z.enum(CLINICAL_STATUSES).nullable()
export const verificationStatusSchema = z.enum(VERIFICATION_STATUSES).nullable()
export const recordedDateSchema = fhirDateTimeSchema.nullable()

/** The condition fields that the registry keeps in step with the FHIR Condition. */
export const conditionFieldsSchema = z.strictObject({
  code: codeableConceptSchema,
  clinicalStatus: clinicalStatusSchema.default(null),
  verificationStatus: verificationStatusSchema.default(null),
  onset: conditionTimingSchema.default(null),
  abatement: conditionTimingSchema.default(null),
  recordedDate: recordedDateSchema.default(null),
})

export type ConditionFields = z.infer<typeof conditionFieldsSchema>
export type ConditionTiming = z.infer<typeof conditionTimingSchema>

export const createConditionSchema = conditionFieldsSchema
  .extend({ patientId: z.uuid() })
  .openapi('ConditionInput')

/**
 * A PATCH body: a field left out keeps its value. It has no defaults, because zod 4 applies a
 * default even inside `.partial()`, which would reset every field the caller did not send.
 */
export const patchConditionSchema = z
  .strictObject({
    code: codeableConceptSchema,
    clinicalStatus: clinicalStatusSchema,
    verificationStatus: verificationStatusSchema,
    onset: conditionTimingSchema,
    abatement: conditionTimingSchema,
    recordedDate: recordedDateSchema,
  })
  .partial()
  .openapi('ConditionPatch')

/** A code of a stored condition that an API write would reject, kept as FHIR sent it. */
export const codeFlagSchema = z
  .object({
    path: z.string().openapi({ example: 'code.coding.0.code' }),
    message: z.string().openapi({
      example:
        "G40.99 is not an ICD-10-CM chapter G code in the registry's value set; pick one from GET /value-sets/neurological-conditions/codes",
    }),
  })
  .openapi('CodeFlag')

/** Builds the schema of a stored status: a code of the value set, or any code FHIR sent. */
function storedStatusSchema(valueSetId: string, example: string) {
  return z
    .string()
    .nullable()
    .openapi({
      description: `A code of GET /value-sets/${valueSetId}/codes. A code from FHIR outside that set is kept as it came and listed in codeFlags.`,
      example,
    })
}

export const conditionSchema = conditionFieldsSchema
  .extend({
    id: z.uuid(),
    patientId: z.uuid(),
    source: z.enum(['registry', 'external']),
    clinicalStatus: storedStatusSchema(CLINICAL_STATUS_VALUE_SET.id, 'active'),
    verificationStatus: storedStatusSchema(VERIFICATION_STATUS_VALUE_SET.id, 'confirmed'),
    isNeurological: z.boolean(),
    codeFlags: z.array(codeFlagSchema).openapi({
      description:
        'Codes that an API write would reject, kept as FHIR sent them: a status outside its value set, a malformed code, an ICD-10-CM chapter G code the registry does not list, or no SNOMED CT or ICD-10-CM coding at all. Empty when every code passes.',
    }),
    version: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    updatedBy: z.string(),
    sync: syncStatusSchema,
  })
  .openapi('Condition')

export type Condition = z.infer<typeof conditionSchema>

export const conditionListQuerySchema = z.strictObject({
  patientId: z.uuid().optional(),
  code: fhirStringSchema(MAX_URI_LENGTH + 1 + MAX_CODE_LENGTH)
    .optional()
    .openapi({
      description: '`system|code` or a bare code',
      example: 'http://snomed.info/sct|84757009',
    }),
  neurological: z
    .enum(['true', 'false'])
    .optional()
    .openapi({ description: 'Only conditions in, or outside, the neurological value set' }),
})

export const conditionFhirViewSchema = fhirViewSchema(
  'Condition',
  conditionFieldsSchema,
  '8d2f7a10-3c4b-4e59-a0f1-6b7c8d9e0f12',
)

export type ConditionFhirView = z.infer<typeof conditionFhirViewSchema>
