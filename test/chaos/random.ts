/**
 * Seeded pseudo-random numbers for the chaos test. The choices of a run (operations, targets,
 * values, kill times) follow from its seed. Their interleaving with the workers and HAPI does not,
 * so a seed replays the same plan, not the same run.
 */

/** Returns mulberry32, a small 32-bit generator of numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = state
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1)
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61)
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296
  }
}

/**
 * Parses CHAOS_SEED (an unsigned 32-bit integer), or draws a seed when it is not set. A malformed
 * value throws, so a typo never runs a different seed than the one asked for.
 */
export function seedFrom(value: string | undefined): number {
  if (value === undefined || value.trim() === '') {
    return Math.floor(Math.random() * 4_294_967_296)
  }
  const seed = Number(value.trim())
  if (!Number.isInteger(seed) || seed < 0 || seed > 4_294_967_295) {
    throw new Error(`CHAOS_SEED must be an integer from 0 to 4294967295, got "${value}"`)
  }
  return seed
}

/**
 * Derives the seed of one named stream (FNV-1a over the name, mixed with the run's seed). The
 * registry's workload, the hospital's workload and the fault plan each draw their own sequence,
 * so one of them taking more turns does not shift the others.
 */
export function streamSeed(seed: number, stream: string): number {
  let hash = 0x811c9dc5 ^ seed
  for (const character of stream) {
    hash = Math.imul(hash ^ character.charCodeAt(0), 0x01000193)
  }
  return hash >>> 0
}

/** Draws numbers, integers, picks and coin flips from one seeded stream. */
export class Random {
  readonly #next: () => number

  constructor(seed: number) {
    this.#next = mulberry32(seed)
  }

  /** Returns a number in [0, 1). */
  float(): number {
    return this.#next()
  }

  /** Returns an integer from `min` to `max`, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.#next() * (max - min + 1))
  }

  /** Returns true with probability `probability`. */
  chance(probability: number): boolean {
    return this.#next() < probability
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Cannot pick from an empty list')
    return items[Math.floor(this.#next() * items.length)] as T
  }

  /** Picks a key with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0)
    let draw = this.#next() * total
    for (const [key, weight] of entries) {
      draw -= weight
      if (draw < 0) return key
    }
    return (entries.at(-1) as [K, number])[0]
  }
}
