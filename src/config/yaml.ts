/**
 * The YAML dialect of Distribution's configuration: YAML 1.1 (`yes`/`no`/`on`/`off` are
 * booleans), as Go's YAML library reads it into strings: no sexagesimal numbers (`10:20` stays
 * text) and no timestamps (`2024-01-01` stays text).
 */
import type { DocumentOptions, ParseOptions, SchemaOptions, Tags } from 'yaml';

function goYamlTags(tags: Tags): Tags {
  return tags.filter(
    (tag) => !(typeof tag === 'object' && (tag.format === 'TIME' || tag.tag === 'tag:yaml.org,2002:timestamp')),
  );
}

export const CONFIG_YAML: ParseOptions & DocumentOptions & SchemaOptions = { version: '1.1', customTags: goYamlTags };
