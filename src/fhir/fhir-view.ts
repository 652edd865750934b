import { z } from '@hono/zod-openapi'
import type { Condition, Patient } from '@medplum/fhirtypes'
import { AppError } from '../platform/errors.ts'
import { errorFields, type Logger } from '../platform/logger.ts'
import type { FhirClient } from './fhir-client.ts'

/** The current FHIR resource behind a registry row, and its fields in the registry's form. */
export interface FhirView<Fields> {
  reference: string
  versionId: string | null
  lastUpdated: string | null
  source: string | null
  resource: Record<string, unknown>
  mapped: Fields
}

/** The columns of a registry row that locate its FHIR resource. */
export interface SyncedRowIds {
  id: string
  fhir_id: string | null
  fhir_version_id: number | null
}

/**
 * Reads the current FHIR resource of a registry row from HAPI and maps it into the registry's
 * fields, so that a page can compare the two field by field. Raises 404 `NOT_IN_FHIR` for a row
 * never written to FHIR, 404 `FHIR_RESOURCE_GONE` when HAPI has no such resource or deleted it,
 * and 502 `FHIR_UNAVAILABLE` when HAPI cannot be reached or fails.
 */
export async function readFhirView<R extends Patient | Condition, Fields>(
  fhir: Pick<FhirClient, 'readState'>,
  type: R['resourceType'],
  row: SyncedRowIds,
  map: (resource: R) => Fields,
  logger: Logger,
): Promise<FhirView<Fields>> {
  // A registry create stores its FHIR id at once, but the resource exists in HAPI only after the
  // first push has recorded a version id.
  const fhirId = row.fhir_id
  if (fhirId === null || row.fhir_version_id === null) {
    throw new AppError(404, 'NOT_IN_FHIR', `${type} ${row.id} has not been written to FHIR yet`)
  }

  const reference = `${type}/${fhirId}`
  let state: Awaited<ReturnType<FhirClient['readState']>>
  try {
    state = await fhir.readState<R>(type, fhirId)
  } catch (error) {
    logger.error('FHIR read of a registry row failed', {
      ...errorFields(error),
      entityType: type.toLowerCase(),
      entityId: row.id,
      fhirReference: reference,
    })
    throw new AppError(502, 'FHIR_UNAVAILABLE', `The FHIR server failed to return ${reference}`, {
      cause: error,
    })
  }
  if (state.status !== 'found') {
    throw new AppError(
      404,
      'FHIR_RESOURCE_GONE',
      `${reference} is ${state.status === 'deleted' ? 'deleted' : 'missing'} in the FHIR server`,
    )
  }

  const resource = state.resource as R
  return {
    reference,
    versionId: resource.meta?.versionId ?? null,
    lastUpdated: resource.meta?.lastUpdated ?? null,
    source: resource.meta?.source ?? null,
    resource: resource as unknown as Record<string, unknown>,
    mapped: map(resource),
  }
}

/** Builds the response schema of a FHIR view, named `<Type>FhirView` in the OpenAPI document. */
export function fhirViewSchema<Fields extends z.ZodType>(
  type: 'Patient' | 'Condition',
  fieldsSchema: Fields,
  exampleId: string,
) {
  return z
    .object({
      reference: z.string().openapi({ example: `${type}/${exampleId}` }),
      versionId: z
        .string()
        .nullable()
        .openapi({ description: "HAPI's meta.versionId", example: '4' }),
      lastUpdated: z.string().nullable().openapi({
        description: "HAPI's meta.lastUpdated",
        example: '2026-01-05T10:30:00.000+00:00',
      }),
      source: z.string().nullable().openapi({
        description: 'meta.source: the system that wrote this version',
        example: 'https://hospital.example.org/ehr',
      }),
      resource: z
        .record(z.string(), z.unknown())
        .openapi({ description: `The FHIR ${type} as HAPI returned it` }),
      mapped: fieldsSchema.openapi({
        description:
          "The resource's mapped fields, in the registry's form, to compare field by field",
      }),
    })
    .openapi(`${type}FhirView`)
}
