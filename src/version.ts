/** Legate's version, shown by --version and /server_info (scripts/build.sh may override it). */
export const VERSION: string = "0.1.0";
