/**
 * Text from servers (the authorization server's messages, Redis errors) is shown in
 * terminals and stored in Redis. C0 controls (including ESC) and C1 controls (U+0080 to
 * U+009F, which some terminals obey as escape sequences: U+009B is a one-character CSI)
 * could rewrite a terminal or forge a log line; they become one space.
 */
export function stripControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
}
