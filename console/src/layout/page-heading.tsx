import { useEffect, useRef, type ReactNode } from 'react'

/**
 * The page's one h1. It takes focus when the page opens, so a screen reader announces the new
 * page after a client-side navigation, as it would after a full page load.
 */
export function PageHeading({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    ref.current?.focus()
  }, [])
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children}
    </h1>
  )
}
