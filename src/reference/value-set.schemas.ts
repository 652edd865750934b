import { z } from '@hono/zod-openapi'
import { pageQuerySchema } from '../platform/schemas.ts'

export const valueSetSummarySchema = z
  .object({
    id: z.string().openapi({ example: 'condition-clinical-status' }),
    title: z.string().openapi({ example: 'Condition clinical status' }),
    description: z.string(),
    systems: z
      .array(z.string())
      .openapi({ example: ['http://terminology.hl7.org/CodeSystem/condition-clinical'] }),
    codeCount: z.number().int().openapi({ example: 6 }),
  })
  .openapi('ValueSetSummary')

export const valueSetCodeSchema = z
  .object({
    system: z.string().openapi({ example: 'http://hl7.org/fhir/sid/icd-10-cm' }),
    code: z.string().openapi({ example: 'G40.909' }),
    display: z.string().openapi({
      example: 'Epilepsy, unspecified, not intractable, without status epilepticus',
    }),
  })
  .openapi('ValueSetCode')

export const valueSetIdParamSchema = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/)
    .openapi({ param: { name: 'id', in: 'path' }, example: 'neurological-conditions' }),
})

export const valueSetCodesQuerySchema = z
  .strictObject({
    text: z.string().trim().max(200).optional().openapi({
      description:
        'Words that must each occur in the code or the display, in any order and any case; exact and leading matches come first',
      example: 'epilepsy intractable',
    }),
    system: z.string().min(1).max(2048).optional().openapi({
      description: 'Only codes of this code system',
      example: 'http://hl7.org/fhir/sid/icd-10-cm',
    }),
  })
  .extend(pageQuerySchema.shape)
