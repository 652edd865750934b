import { describe, expect, it } from 'vitest'
import { loadConfig } from '../platform/config.ts'
import { driftScheduleOf } from './drift-scheduler.ts'

describe('driftScheduleOf', () => {
  it('uses the catch-up and verification intervals by default', () => {
    expect(driftScheduleOf(loadConfig({}))).toEqual({ 'catch-up': 300, verification: 21_600 })
  })

  it('polls while a pulled type has no Subscription', () => {
    const config = loadConfig({ SYNC_TRIGGER: 'Condition=polling', POLLING_INTERVAL_SECONDS: '7' })

    expect(driftScheduleOf(config)['catch-up']).toBe(7)
  })

  it('ignores the trigger of a type that is not pulled', () => {
    const config = loadConfig({
      SYNC_TRIGGER: 'Patient=polling',
      SYNC_DIRECTION: 'Patient=to-fhir',
    })

    expect(driftScheduleOf(config)['catch-up']).toBe(300)
  })

  it('schedules no catch-up when no type is pulled', () => {
    const config = loadConfig({ SYNC_DIRECTION: 'Patient=to-fhir,Condition=to-fhir' })

    expect(driftScheduleOf(config)['catch-up']).toBe(0)
  })

  it('turns verification off with an interval of 0', () => {
    const config = loadConfig({ DRIFT_VERIFY_INTERVAL_SECONDS: '0' })

    expect(driftScheduleOf(config).verification).toBe(0)
  })
})
