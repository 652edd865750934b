import { createHash, timingSafeEqual } from 'node:crypto'

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/**
 * A shared secret that a caller sends as `Authorization: Bearer <secret>`, such as the rest-hook
 * secret or the metrics scrape token. Both sides are hashed before the comparison, so it takes
 * the same time whatever the offered value's length.
 */
export class BearerSecret {
  readonly #digest: Buffer

  constructor(secret: string) {
    this.#digest = digest(secret)
  }

  /** Checks whether the header carries this secret; the scheme name matches in any case. */
  matches(authorization: string | undefined): boolean {
    const offered = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1]
    return offered !== undefined && timingSafeEqual(digest(offered), this.#digest)
  }
}
