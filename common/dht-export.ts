// The manifest written beside every DHT export, and the export's file layout: JSON with one
// credit per line, so it can be written and read as a stream and still parses as one document.
export const DHT_MANIFEST_FORMAT = 'zerotrustml-runbooks/dht-export@1';
export const DHT_EXPORT_FORMAT = 'zerotrustml-runbooks/dht-export-data@1';

export interface DhtExportManifest {
  format: typeof DHT_MANIFEST_FORMAT;
  key: string;
  file: string;
  appId: string;
  conductor: string;
  bytes: number;
  sha256: string;
  credits: number;
  /** SHA-256 over the per-credit hashes in credit-id order: equal content, equal hash. */
  contentHash: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  verified?: { at: string; method: string; durationMs: number };
  workflowId?: string;
}

export function dhtExportFileName(appId: string, key: string): string {
  return `dht_export_${appId}_${key}.json`;
}
