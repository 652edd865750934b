import type { Attention } from './sync-attention.ts'

/** Renders a badge whose words carry the meaning, so it does not rely on its colour. */
export function StatusBadge({ attention }: { attention: Attention }) {
  return <span className={`badge ${attention.level}`}>{attention.text}</span>
}
