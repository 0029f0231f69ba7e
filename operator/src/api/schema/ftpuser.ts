// The FtpUser API (ftp.pasv.dev/v1alpha1) as zod schemas: the source of the TypeScript types, the
// generated CRD and the generated validation schema (crd-gen.ts). Not loaded at run time (the
// operator validates with the generated JSON Schema, ../ftpuser.ts). Every field has a description.
import { z } from "zod";
import { DNS1123_SUBDOMAIN_RE } from "../rules.ts";
import { DEFAULT_PASSWORD_KEY } from "../ftpuser.ts";
import { conditionSchema } from "./ftpserver.ts";

// A home must name a directory strictly below storage.root (the server's homeProblem(), load.ts):
// refused at admission so `kubectl apply` says so, and again by the operator (InvalidSpec).
const HOME_CEL = "!self.contains('\\u0000') && !self.split('/').exists(c, c == '..') && self.split('/').exists(c, c != '' && c != '.')";

const secretName = z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a Secret name");

export const ftpUserSpecSchema = z
  .object({
    serverRef: z
      .object({
        name: z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be an FtpServer name").describe("Name of the FtpServer (same namespace)."),
      })
      .describe("The FtpServer this user logs in to (same namespace)."),
    userName: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe("Login name (1-64 characters, as in the users file); omitted = metadata.name. Must be unique among the FtpServer's users, the Secret-based users file included."),
    passwordSecretRef: z
      .object({
        name: secretName.describe("Secret in the FtpUser's namespace."),
        key: z
          .string()
          .min(1)
          .max(253)
          .regex(/^[-._a-zA-Z0-9]+$/, "must be a Secret key")
          .optional()
          .describe(`Key holding the hash; omitted = \`${DEFAULT_PASSWORD_KEY}\`.`),
      })
      .describe(
        "Secret key holding the password hash: bcrypt (`htpasswd -nbB -C 10 user pass | cut -d: -f2-`) or scrypt (`make hash-password`). Never a plain password: a value that is not a hash makes the FtpUser Ready=False (InvalidHash).",
      ),
    groups: z.array(z.string().min(1).max(253)).max(64).optional().describe("Groups, matched by the FtpServer's userClasses[].match.groups; omitted = none."),
    type: z.string().min(1).max(253).optional().describe("User type, matched by userClasses[].match.userTypes; omitted = `standard`."),
    home: z
      .string()
      .min(1)
      .max(4096)
      .meta({
        description: "Directory strictly below the FtpServer's storage root (may be nested: partners/drop); omitted = the user name. Created at first login.",
        "x-kubernetes-validations": [{ rule: HOME_CEL, message: "home must name a directory below the storage root: no '..' component, not '.' or '/', no NUL" }],
      })
      .optional(),
    permissions: z
      .object({
        write: z.boolean().optional().describe("false = read-only account (no STOR, APPE, DELE, MKD, RMD, RNFR/RNTO); omitted = true."),
        delete: z.boolean().optional().describe("false = nothing existing is destroyed (drop box); omitted = true."),
        rename: z.boolean().optional().describe("false = no RNFR/RNTO; omitted = true."),
      })
      .optional()
      .describe("What the user may change (docs/users-file.md, Permissions); reading and listing are always allowed."),
    quota: z
      .object({
        bytes: z.number().int().min(0).optional().describe("Most bytes the home may hold (sum of regular file sizes)."),
        files: z.number().int().min(0).optional().describe("Most regular files the home may hold."),
      })
      .optional()
      .describe("Limits on what the home holds; a STOR/APPE past one is answered 552."),
    // No default: a defaulted field would make the stored object differ from a manifest that omits it.
    enabled: z.boolean().optional().describe("false = the user cannot log in (removed from the users file, the FtpUser kept); omitted or true = enabled."),
  })
  .describe("An FTP login of one FtpServer.");

export const ftpUserStatusSchema = z
  .object({
    observedGeneration: z.number().int().optional().describe("metadata.generation last reconciled."),
    server: z.string().optional().describe("The FtpServer this user belongs to (spec.serverRef.name)."),
    userName: z.string().optional().describe("The login name in effect (spec.userName or metadata.name)."),
    conditions: z
      .array(conditionSchema)
      .optional()
      .meta({
        description:
          "Ready: True when the user is in the FtpServer's users file (reason Active) or deliberately out of it (Disabled); False with SecretNotFound, SecretKeyMissing, InvalidHash, DuplicateUserName, InvalidSpec, ServerNotFound or ServerUsersFileInvalid.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
  })
  .describe("Observed state.");

export type FtpUserSpec = z.output<typeof ftpUserSpecSchema>;
export type FtpUserStatus = z.output<typeof ftpUserStatusSchema>;
