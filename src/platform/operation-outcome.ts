import { z } from '@hono/zod-openapi'
import type { FieldError } from './errors.ts'

/** Code system of the registry's error codes (`VALIDATION_FAILED`...) in an OperationOutcome. */
export const ERROR_CODE_SYSTEM = 'https://brain-registry.example.org/fhir/CodeSystem/error-code'

/** Extension that carries the request id on an OperationOutcome. */
export const REQUEST_ID_EXTENSION =
  'https://brain-registry.example.org/fhir/StructureDefinition/request-id'

/** FHIR R4 IssueType of each HTTP status that an error can have. */
const ISSUE_TYPES: Record<number, string> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  405: 'not-supported',
  409: 'conflict',
  412: 'conflict',
  413: 'too-long',
  415: 'not-supported',
  428: 'required',
  429: 'throttled',
  500: 'exception',
  502: 'transient',
  503: 'transient',
}

export const operationOutcomeSchema = z
  .object({
    resourceType: z.literal('OperationOutcome'),
    extension: z.array(z.object({ url: z.string(), valueString: z.string() })).openapi({
      description: `The request id, in the extension ${REQUEST_ID_EXTENSION}`,
    }),
    issue: z.array(
      z.object({
        severity: z.enum(['fatal', 'error', 'warning', 'information']),
        code: z.string().openapi({ example: 'invalid' }),
        details: z
          .object({
            coding: z.array(z.object({ system: z.string(), code: z.string() })).optional(),
            text: z.string().optional(),
          })
          .optional()
          .openapi({
            description: `The registry's error code, in the system ${ERROR_CODE_SYSTEM}`,
          }),
        diagnostics: z.string().optional(),
      }),
    ),
  })
  .openapi('OperationOutcome')

export type OperationOutcome = z.infer<typeof operationOutcomeSchema>

/**
 * Builds the OperationOutcome of an error: one issue with the registry's code and the detail,
 * then one issue per invalid field. A field's path goes into `diagnostics`, not `expression`,
 * because it is a JSON path of the request and not a FHIRPath expression.
 */
export function operationOutcomeOf(error: {
  status: number
  code: string
  detail: string
  requestId: string
  fieldErrors: readonly FieldError[]
}): OperationOutcome {
  const issueType =
    error.code === 'MALFORMED_REQUEST' ? 'structure' : (ISSUE_TYPES[error.status] ?? 'processing')
  return {
    resourceType: 'OperationOutcome',
    extension: [{ url: REQUEST_ID_EXTENSION, valueString: error.requestId }],
    issue: [
      {
        severity: 'error',
        code: issueType,
        details: { coding: [{ system: ERROR_CODE_SYSTEM, code: error.code }], text: error.detail },
        diagnostics: error.detail,
      },
      ...error.fieldErrors.map((field) => ({
        severity: 'error' as const,
        code: issueType,
        diagnostics: field.path === '' ? field.message : `${field.path}: ${field.message}`,
      })),
    ],
  }
}
