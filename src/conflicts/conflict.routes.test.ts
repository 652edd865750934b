import { describe, expect, it } from 'vitest'
import { createRouter } from '../platform/http.ts'
import { registerConflictRoutes } from './conflict.routes.ts'
import { ConflictService, type ConflictServiceDeps } from './conflict.service.ts'

function conflictDocument() {
  const app = createRouter()
  // Building the OpenAPI document calls no handler, so the service never uses its dependencies.
  registerConflictRoutes(app, new ConflictService({} as ConflictServiceDeps))
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'Conflicts', version: '0' },
  })
}

describe('conflict routes', () => {
  it.each([
    ['/conflicts', 'get', 'listConflicts'],
    ['/conflicts/{id}', 'get', 'getConflict'],
    ['/conflicts/{id}/resolve', 'post', 'resolveConflict'],
    ['/conflicts/{id}/dismiss', 'post', 'dismissConflict'],
    ['/conflicts/resolve', 'post', 'resolveConflicts'],
  ] as const)('documents %s %s', (path, method, operationId) => {
    const operation = conflictDocument().paths?.[path]?.[method]

    expect(operation?.operationId).toBe(operationId)
    expect(operation?.tags).toEqual(['Conflicts'])
    expect(operation?.summary).toBeTruthy()
    expect(operation?.responses?.['400']).toBeDefined()
  })

  it('documents the conflict schemas', () => {
    const schemas = conflictDocument().components?.schemas ?? {}

    expect(Object.keys(schemas)).toEqual(
      expect.arrayContaining([
        'Conflict',
        'ConflictDetail',
        'ConflictResolution',
        'ConflictDismissal',
        'BulkConflictResolution',
        'BulkConflictResult',
        'Problem',
      ]),
    )
  })
})
