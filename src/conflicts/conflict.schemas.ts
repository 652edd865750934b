import { z } from '@hono/zod-openapi'
import { fhirStringSchema } from '../platform/fhir-datatypes.ts'

export const CONFLICT_STATUSES = ['open', 'resolved', 'dismissed'] as const
export const CONFLICT_ENTITY_TYPES = ['patient', 'condition'] as const

/** Largest number of conflicts that one bulk resolution takes. */
export const MAX_BULK_CONFLICTS = 500

const partValueSchema = (side: string) =>
  z.unknown().openapi({
    description: `The part's value ${side}: JSON of the field, list element or coding; null when the part is absent`,
    example: '1980-05-17',
  })

export const conflictSchema = z
  .object({
    id: z.uuid(),
    entityType: z.enum(CONFLICT_ENTITY_TYPES),
    entityId: z.uuid(),
    field: z.string().openapi({
      description:
        'Merge field (`birthDate`, `telecom`, `code`...), or `(deleted)` for a delete on one side against an edit on the other',
      example: 'birthDate',
    }),
    itemKey: z.string().nullable().openapi({
      description:
        'Natural key of the list element (`phone|555-0100`, `official`) or of the coding (its system, or `text`); null for the whole field',
      example: null,
    }),
    status: z.enum(CONFLICT_STATUSES),
    baseValue: partValueSchema('at the last point both sides agreed'),
    registryValue: partValueSchema('in the registry'),
    fhirValue: partValueSchema('in FHIR'),
    registryVersion: z.number().int().openapi({
      description: 'Version of the registry row that the values were recorded at',
      example: 3,
    }),
    fhirVersionId: z
      .number()
      .int()
      .openapi({ description: 'FHIR version id of the FHIR value', example: 2 }),
    registryUpdatedAt: z.iso.datetime(),
    fhirUpdatedAt: z.iso.datetime().nullable(),
    resolution: z.string().nullable().openapi({
      description:
        "`registry`, `fhir` or `value` for a steward's resolution; `lww-registry`, `lww-fhir`, `fhir-rule` or `converged` when the merge settled it; null while open or when dismissed",
      example: null,
    }),
    resolvedBy: z.string().nullable(),
    resolvedValue: z.unknown().openapi({ description: 'Value the part took on resolution' }),
    resolutionReason: z.string().nullable().openapi({ description: 'Why it was dismissed' }),
    resolvedAt: z.iso.datetime().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Conflict')

export type Conflict = z.infer<typeof conflictSchema>

export const conflictDetailSchema = conflictSchema
  .extend({
    entity: z
      .object({
        version: z.number().int().openapi({ example: 4 }),
        deleted: z.boolean(),
        syncState: z.enum(['pending', 'synced', 'conflict', 'failed']),
      })
      .nullable()
      .openapi({ description: 'The patient or condition as it is now; null if it is missing' }),
  })
  .openapi('ConflictDetail')

export type ConflictDetail = z.infer<typeof conflictDetailSchema>

export const conflictListQuerySchema = z.strictObject({
  status: z.enum(CONFLICT_STATUSES).default('open'),
  entityType: z.enum(CONFLICT_ENTITY_TYPES).optional(),
  entityId: z.uuid().optional(),
  field: fhirStringSchema(100).optional().openapi({ example: 'birthDate' }),
  createdFrom: z.iso.datetime({ offset: true }).optional().openapi({
    description: 'Conflicts created at or after this time',
    example: '2026-01-01T00:00:00Z',
  }),
  createdTo: z.iso.datetime({ offset: true }).optional().openapi({
    description: 'Conflicts created before this time',
    example: '2026-02-01T00:00:00Z',
  }),
})

export const resolveConflictSchema = z
  .discriminatedUnion('choice', [
    z.strictObject({ choice: z.literal('registry') }),
    z.strictObject({ choice: z.literal('fhir') }),
    z.strictObject({
      choice: z.literal('value'),
      value: z.unknown().openapi({
        description:
          "The part's new value, checked like an API write: a field's value, or a list element or coding whose key is the conflict's itemKey, or null to remove the element",
        example: '1980-05-17',
      }),
    }),
  ])
  .openapi('ConflictResolution', { example: { choice: 'fhir' } })

export type ResolveChoice = z.infer<typeof resolveConflictSchema>

export const dismissConflictSchema = z
  .strictObject({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(2000)
      .refine((value) => !value.includes('\u0000'), { error: 'Must not contain NUL (\\u0000)' })
      .openapi({
        example: 'Both birth dates are wrong; the hospital corrects its record first',
      }),
  })
  .openapi('ConflictDismissal')

export const bulkResolveSchema = z
  .strictObject({
    conflictIds: z.array(z.uuid()).min(1).max(MAX_BULK_CONFLICTS),
    choice: z.enum(['registry', 'fhir']),
  })
  .openapi('BulkConflictResolution', {
    example: { conflictIds: ['5f0c6f0e-7d55-4a5e-9b1b-1c6f4f1f2a3b'], choice: 'registry' },
  })

export const bulkResultSchema = z
  .object({
    id: z.uuid(),
    outcome: z.enum(['resolved', 'stale', 'not-open', 'not-found', 'rejected', 'failed']).openapi({
      description:
        '`stale`: the entity moved on and the conflict now holds the fresh values; `not-open`: already resolved or dismissed; `rejected` and `failed` give a problem `code`',
    }),
    status: z
      .enum(CONFLICT_STATUSES)
      .optional()
      .openapi({ description: 'Status of a not-open conflict' }),
    registryValue: z
      .unknown()
      .optional()
      .openapi({ description: 'Fresh registry value of a stale conflict' }),
    fhirValue: z
      .unknown()
      .optional()
      .openapi({ description: 'Fresh FHIR value of a stale conflict' }),
    code: z.string().optional().openapi({ example: 'ENTITY_DELETED' }),
    detail: z.string().optional(),
  })
  .openapi('BulkConflictResult')

export type BulkResult = z.infer<typeof bulkResultSchema>

export const bulkResponseSchema = z.object({ results: z.array(bulkResultSchema) })
