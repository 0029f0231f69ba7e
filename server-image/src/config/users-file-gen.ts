// Generates server-image/src/config/generated/users-file.ts, the JSON Schema the users file is
// checked with at run time (users-file.ts; the operator checks FtpUser Secrets with it too), from
// the zod schema in schema.ts.
//
//   node server-image/src/config/users-file-gen.ts            write the file
//   node server-image/src/config/users-file-gen.ts --check    exit 1 when it differs (make manifests-check)
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderSchemaModule, validationSchema, writeOrCheck } from "./json-schema-gen.ts";
import { usersFileSchema } from "./schema.ts";

export const USERS_FILE_SCHEMA_PATH = resolve(dirname(fileURLToPath(import.meta.url)), "generated/users-file.ts");

export function renderUsersFileSchemaTs(): string {
  return renderSchemaModule("server-image/src/config/users-file-gen.ts", "server-image/src/config/schema.ts", "../json-schema.ts", {
    usersFileJsonSchema: validationSchema(usersFileSchema, ""),
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeOrCheck([[USERS_FILE_SCHEMA_PATH, renderUsersFileSchemaTs()]], process.argv, "the users file's generated schema is");
}
