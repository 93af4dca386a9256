/**
 * The identity of a registration (SPEC R5). Every `register` makes one from Redis TIME
 * and random bytes (register-5.lua), so no later `register` repeats it — not even into
 * an emptied or a different Redis, where the generation number people see starts at 1
 * again. Records, held records, verdicts, restores and the streak reset compare
 * identities, never generations. Data written before identities existed (0.2.0) is
 * known by its generation alone, as `g<generation>`: the form no new registration takes.
 * The same rule as `registrationOf` in shared/redis/lua/prelude.lua.
 */
export function registrationOf(registration: string | null | undefined, generation: string | number | null | undefined): string {
  if (registration) return registration;
  return `g${generation ?? 0}`;
}
