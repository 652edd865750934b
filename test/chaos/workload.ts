import type { FhirClient } from '../../src/fhir/fhir-client.ts'
import type { TestRegistry } from '../harness.ts'
import { sleep } from './chaos-hapi.ts'
import { HospitalActor } from './hospital-actor.ts'
import { Random, streamSeed } from './random.ts'
import { RegistryActor } from './registry-actor.ts'
import { World, WorkloadLog, type Side } from './workload-log.ts'
import { ValueSource } from './workload-values.ts'

/**
 * Pause between two operations of one loop, in milliseconds, per side. An API write returns at
 * once while a hospital write waits for HAPI, so the registry's loops pause longer to keep the two
 * sides' edit counts in the same range.
 */
const PAUSE_MS: Record<Side, { min: number; max: number }> = {
  registry: { min: 250, max: 700 },
  fhir: { min: 100, max: 400 },
}

export interface WorkloadOptions {
  seed: number
  api: TestRegistry['api']
  identifierSystem: string
  hospital: FhirClient
  loopsPerSide: number
  /** Checked before each operation; the loops end once it returns false. */
  keepGoing: () => boolean
}

/**
 * Runs registry loops (writes through the API) and hospital loops (writes straight to HAPI) at
 * the same time until `keepGoing` returns false, and returns the log of acknowledged writes.
 */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadLog> {
  const log = new WorkloadLog()
  const world = new World()
  const loops: Promise<void>[] = []
  for (let loop = 1; loop <= options.loopsPerSide; loop++) {
    const registryRandom = new Random(streamSeed(options.seed, `registry-${loop}`))
    const registry = new RegistryActor({
      api: options.api,
      identifierSystem: options.identifierSystem,
      random: registryRandom,
      values: new ValueSource(`R${loop}`, registryRandom),
      world,
      log,
    })
    loops.push(runLoop('registry', registryRandom, () => registry.step(), log, options.keepGoing))

    const hospitalRandom = new Random(streamSeed(options.seed, `hospital-${loop}`))
    const hospital = new HospitalActor({
      fhir: options.hospital,
      random: hospitalRandom,
      values: new ValueSource(`H${loop}`, hospitalRandom),
      world,
      log,
    })
    loops.push(runLoop('fhir', hospitalRandom, () => hospital.step(), log, options.keepGoing))
  }
  await Promise.all(loops)
  return log
}

async function runLoop(
  side: Side,
  random: Random,
  step: () => Promise<void>,
  log: WorkloadLog,
  keepGoing: () => boolean,
): Promise<void> {
  while (keepGoing()) {
    try {
      await step()
    } catch (error) {
      log.recordUnexpected({
        side,
        operation: 'step',
        status: -1,
        detail: error instanceof Error ? error.message.slice(0, 300) : String(error),
      })
    }
    await sleep(random.int(PAUSE_MS[side].min, PAUSE_MS[side].max))
  }
}
