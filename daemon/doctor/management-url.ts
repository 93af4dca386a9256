/** The management center `doctor` checks unless told another (--management-center); named in its help. */
export const DEFAULT_MANAGEMENT_URL = 'https://cloud.fanruan.com';
