import { z } from '@hono/zod-openapi'
import { FINDING_KINDS, REPAIR_ACTIONS } from './drift-classification.ts'

export const DRIFT_RUN_KINDS = ['catch-up', 'verification'] as const
export const DRIFT_RUN_STATUSES = ['queued', 'running', 'finished', 'failed'] as const

export const driftRunSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(DRIFT_RUN_KINDS),
    status: z.enum(DRIFT_RUN_STATUSES).openapi({
      description:
        '`queued` until a worker starts it, and again while pg-boss waits to retry it after an error',
    }),
    requestedBy: z.enum(['schedule', 'api', 'rest-hook']).openapi({
      description: '`rest-hook` for a catch-up that an empty rest-hook POST asked for',
    }),
    createdAt: z.iso.datetime(),
    startedAt: z.iso.datetime().nullable(),
    finishedAt: z.iso.datetime().nullable(),
    cursorFrom: z.iso.datetime().nullable().openapi({
      description:
        'Catch-up: the earliest `_since` it read HAPI history from (its saved cursor minus DRIFT_OVERLAP_SECONDS); null for a verification, or when no cursor existed yet',
    }),
    cursorTo: z.iso.datetime().nullable().openapi({
      description: "Catch-up: the cursor it saved, HAPI's time when it read the first history page",
    }),
    counts: z.record(z.string(), z.number()).openapi({
      description:
        'Catch-up: `read`, `repeats`, `queued`, `skipped`, `deletes`, `unreadable`, `cursorsStarted`, `stalePushesQueued`, `staleMergesQueued`. Verification: `checked`, `findings`, one count per finding kind, `mergesQueued`, `pushesQueued`, `fhirValuesTaken`, `notRepaired`',
      example: { read: 12, repeats: 0, queued: 3, skipped: 9, deletes: 1 },
    }),
    error: z.string().nullable().openapi({ description: 'Why the last attempt failed' }),
  })
  .openapi('DriftRun')

export type DriftRun = z.infer<typeof driftRunSchema>

export const driftFindingSchema = z
  .object({
    id: z.string().openapi({ example: '42' }),
    entityType: z.enum(['patient', 'condition']),
    entityId: z.uuid(),
    fhirId: z.string().nullable(),
    kind: z.string().openapi({
      description: `One of ${FINDING_KINDS.map((kind) => `\`${kind}\``).join(', ')}`,
      example: 'diverged',
    }),
    fields: z.array(z.string()).openapi({
      description: 'Mapped fields whose values differ, for `diverged`',
      example: ['gender'],
    }),
    action: z.string().openapi({
      description: `Repair queued: one of ${REPAIR_ACTIONS.map((action) => `\`${action}\``).join(', ')}`,
      example: 'push',
    }),
    registryFhirVersionId: z.number().int().nullable().openapi({
      description: 'FHIR version the registry row recorded',
      example: 3,
    }),
    fhirVersionId: z.number().int().nullable().openapi({
      description: 'FHIR version HAPI has; null when the resource is gone',
      example: 3,
    }),
    fhirStatus: z.enum(['found', 'deleted', 'missing']).openapi({
      description: '`deleted` when HAPI returned 410, `missing` when it returned 404',
    }),
    createdAt: z.iso.datetime(),
  })
  .openapi('DriftFinding')

export type DriftFinding = z.infer<typeof driftFindingSchema>

export const driftRunRequestSchema = z
  .strictObject({ kind: z.enum(DRIFT_RUN_KINDS) })
  .openapi('DriftRunRequest', { example: { kind: 'catch-up' } })

export const driftRunListQuerySchema = z.strictObject({
  kind: z.enum(DRIFT_RUN_KINDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(20).openapi({ example: 20 }),
})
