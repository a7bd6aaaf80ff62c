// Types of ./commands.js, for src/sea.ts.
export declare const SPLIT: ReadonlySet<string>;
export declare const ELSEWHERE: number;
export declare function stemOf(name: string): string;
export declare function splitOf(args: readonly string[]): string | null;
