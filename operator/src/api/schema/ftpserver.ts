// The FtpServer API (ftp.pasv.dev/v1alpha1) as zod schemas: the single source of the TypeScript
// types, the generated CRD and the generated validation schema (operator/src/api/crd-gen.ts
// writes crds/ and operator/src/api/generated/validation.ts from it). The operator does not load
// this file at run time: it validates with the generated JSON Schema (../v1alpha1.ts,
// validateSpec), which test/unit/operator/validation.test.ts holds to the same answers as this.
// Every field carries a description (it becomes `kubectl explain` text); cross-field rules are
// CEL + TypeScript pairs (../rules.ts, ../v1alpha1.ts) attached with
// `.meta({"x-kubernetes-validations"})`.
import { z } from "zod";
import {
  ADDRESS_FORM_CEL,
  DNS1123_SUBDOMAIN_RE,
  IP_WILDCARD_RE,
  LABEL_VALUE_RE,
  QUALIFIED_NAME_RE,
  SUB_PATH_RE,
  WILDCARD_RE,
  type CrossRule,
} from "../rules.ts";
import {
  API_VERSION,
  KIND,
  MAX_PASSIVE_PORTS,
  PROVIDERS,
  RESERVED_LABELS_CEL,
  RESERVED_LABELS_MESSAGE,
  passiveRules,
  serviceRules,
  specRules,
  storageRules,
  tlsRules,
} from "../v1alpha1.ts";

const port = (what: string) => z.number().int().min(1).max(65535).describe(what);
const portCount = () => z.number().int().min(1).max(MAX_PASSIVE_PORTS);
const cel = (rules: CrossRule<never>[]) =>
  rules.map((r) => ({
    rule: r.rule,
    message: r.message,
    ...(r.fieldPath ? { fieldPath: r.fieldPath } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  }));

const wildcard = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(WILDCARD_RE), "pattern may contain letters, digits, . _ @ : - / and the wildcards ? *");

// ---------------------------------------------------------------- passive

export const addressRuleSchema = z
  .object({
    userClass: wildcard.describe(
      "User-class pattern this rule applies to: `?` matches one character, `*` any run (`*` = every class). Matched against the session's class name (see spec.userClasses).",
    ),
    address: z
      .string()
      .min(1)
      .max(253)
      .meta({
        description:
          "Address put in PASV replies for matching sessions: `auto` (the Service's external load-balancer address, from status.loadBalancer.ingress), an IPv4/IPv6 address, or a host name (the FTP server resolves it when it answers PASV).",
        "x-kubernetes-validations": [
          { rule: ADDRESS_FORM_CEL, message: "address must be `auto`, an IPv4/IPv6 address or a DNS host name" },
        ],
      }),
    // No `default: true`: addressRules is an atomic list, and a defaulted field makes the stored list
    // differ from a manifest that omits it (every GitOps sync rewrites it; a second manager conflicts).
    enabled: z
      .boolean()
      .optional()
      .describe("Status of the rule: `false` keeps the rule but it never matches; omitted or `true` = enabled."),
  })
  .describe("A passive address rule (product: User Class, Passive Address, Status).");

const passiveShape = z
  .object({
    basePort: port("Base Port: the first port of the passive range (product default example: 10000)."),
    numberOfPorts: portCount()
      .optional()
      .describe(
        "Number Of Ports in the passive range; Port End = basePort + numberOfPorts - 1. When omitted it is 5 x expectedConcurrentConnections (the product's sizing advice; it is about transfers open at the same time, not per minute: the server reuses a released port when no other is free, TIME_WAIT does not block it).",
      ),
    expectedConcurrentConnections: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .optional()
      .describe(
        "Expected concurrent data connections across all replicas. Sizes the range when numberOfPorts is omitted; otherwise the PassiveRangeSized condition warns when numberOfPorts < 5 x this.",
      ),
    addressRules: z
      .array(addressRuleSchema)
      .max(64)
      .optional()
      .describe(
        "Ordered passive address rules: the first enabled rule whose userClass pattern matches the session's class gives the PASV address. With no match the external address (or, when unknown, the pod's own) is used. EPSV replies carry no address.",
      ),
    quarantineSeconds: z
      .number()
      .int()
      .min(0)
      .max(600)
      .optional()
      .describe(
        "How long a passive port that carried a data connection is the last choice (TIME_WAIT): free ports are handed out first, then the one released longest ago; a port is never refused while one is free. Server default 60.",
      ),
    acceptTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .optional()
      .describe("How long a PASV listener waits for its data connection. Server default 30."),
    portsPerReplica: portCount()
      .optional()
      .describe(
        "PortPartitioned: fixed port blocks. Pod i (StatefulSet ordinal) owns ports basePort + i x portsPerReplica .. + portsPerReplica - 1 whatever the replica count, so scaling adds or removes whole blocks and no port ever changes owner: changing replicas drops no session. The range holds numberOfPorts / portsPerReplica blocks, the most replicas this FtpServer can scale to. Omitted: the range is split evenly among the current replicas (re-sliced on every scale, which can fail sessions in flight).",
      ),
    sharePorts: z
      .boolean()
      .optional()
      .describe(
        "Let several sessions hold the same passive port when their client IPs differ; each data connection goes to the session waiting for its source IP (a second session from the same IP gets another port). A small range then serves many concurrent transfers (e.g. within the AWS NLB limit of 50 listeners). Needs the pod to see client IPs: dataConnectionCheck Strict, or Auto with PROXY protocol, externalTrafficPolicy Local or a ClusterIP Service.",
      ),
  });
export const passiveSchema = passiveShape.meta({
    description: "FTP passive mode: the port range and the passive address rules.",
    "x-kubernetes-validations": cel(passiveRules()),
  });

// ---------------------------------------------------------------- user classes

export const userClassSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9._-]+$/, "class names use letters, digits, . _ -")
      .describe("Class name; passive address rules match it with their userClass pattern."),
    match: z
      .object({
        userNames: z.array(wildcard).max(64).optional().describe("User-name patterns (? and * wildcards); any may match."),
        groups: z.array(wildcard).max(64).optional().describe("Group patterns; matches when any of the user's groups matches any."),
        userTypes: z.array(wildcard).max(64).optional().describe("User-type patterns (the users file's `type`)."),
        fromAddresses: z
          .array(
            z
              .string()
              .min(1)
              .max(64)
              .meta({
                description: "A CIDR (198.51.100.0/24, 2001:db8::/32) or a wildcard over the client IP's text (203.0.113.*).",
                "x-kubernetes-validations": [
                  {
                    rule: `isCIDR(self) || self.matches('${IP_WILDCARD_RE}')`,
                    message: "fromAddresses entries must be a CIDR or an IP wildcard such as 203.0.113.*",
                  },
                ],
              }),
          )
          .max(64)
          .optional()
          .describe("Client addresses (the control connection's peer, after PROXY protocol when enabled); any may match."),
      })
      .optional()
      .describe("Criteria; every given criterion must match, an omitted one matches anything. Empty = matches every session."),
  })
  .describe("A user class: groups users by name, group, type and client address.");

// ---------------------------------------------------------------- service

const serviceShape = z
  .object({
    type: z
      .enum(["ClusterIP", "NodePort", "LoadBalancer"])
      .default("LoadBalancer")
      .describe(
        "Service type. LoadBalancer: the external address comes from status.loadBalancer.ingress. NodePort: every passive port gets nodePort = port, so the range must lie in the NodePort range (30000-32767).",
      ),
    provider: z
      .enum(PROVIDERS)
      .default("None")
      .describe(
        "Load-balancer preset: sets the provider's annotations (AWS NLB source-IP stickiness and IP targets, OCI NLB TWO_TUPLE backend policy, Azure idle timeout, MetalLB shared IP) and the limits the WithinProviderLimits condition checks (AWS NLB: 50 listeners; Azure: about 300 rules per NIC). Explicit annotations win over the preset.",
      ),
    annotations: z
      .record(z.string().max(253), z.string().max(4096))
      .meta({ maxProperties: 64 })
      .optional()
      .describe("Extra annotations on the Service (override the provider preset's)."),
    externalTrafficPolicy: z
      .enum(["Cluster", "Local"])
      .optional()
      .describe(
        "Default: Cluster for PortPartitioned (each passive port has one pod; with Local only that pod's node would answer), Local for ClientIPAffinity (keeps the client IP and the pod-per-node pinning). Cluster SNATs: the data-connection check then needs PROXY protocol or the relaxed mode.",
      ),
    allocateLoadBalancerNodePorts: z
      .boolean()
      .optional()
      .describe(
        "false when the load balancer routes to pod IPs directly (AWS NLB IP targets, MetalLB L2/BGP to pods...): saves a NodePort per passive port. Default (true) takes one NodePort per port from the cluster-wide pool of 2768.",
      ),
    loadBalancerClass: z.string().min(1).max(253).optional().describe("Service spec.loadBalancerClass (immutable once set on the Service)."),
    loadBalancerSourceRanges: z
      .array(
        z
          .string()
          .max(64)
          .meta({
            description: "A CIDR allowed to reach the load balancer.",
            "x-kubernetes-validations": [{ rule: "isCIDR(self)", message: "loadBalancerSourceRanges entries must be CIDRs, e.g. 203.0.113.0/24" }],
          }),
      )
      .max(64)
      .optional()
      .describe("Client CIDRs the load balancer accepts (firewall)."),
    controlNodePort: port("NodePort for the control port when type is NodePort (default: assigned by Kubernetes).").optional(),
    sharedIPKey: z
      .string()
      .min(1)
      .max(63)
      .optional()
      .describe("MetalLB: value of metallb.io/allow-shared-ip, to share one IP between Services with disjoint ports."),
    hostnamePolicy: z
      .enum(["PassThrough", "Ignore"])
      .default("PassThrough")
      .describe(
        "When the load balancer reports a host name instead of an IP (AWS): PassThrough puts the host name in the config and the FTP server resolves it when answering PASV (follows DNS changes); Ignore treats the address as unresolved.",
      ),
  });
export const serviceSchema = serviceShape.meta({
    description: "The Service exposing the control port and one port per passive port.",
    "x-kubernetes-validations": cel(serviceRules()),
  });

// ---------------------------------------------------------------- network policy

const cidr = z
  .string()
  .max(64)
  .meta({
    description: "A CIDR, e.g. 203.0.113.0/24 or 2001:db8::/32.",
    "x-kubernetes-validations": [{ rule: "isCIDR(self)", message: "must be a CIDR, e.g. 203.0.113.0/24" }],
  });
const matchLabels = z.record(z.string().max(317), z.string().max(63)).describe("Label selector matchLabels (all must match; empty = everything).");
export const networkPolicySchema = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe("Default true (also when networkPolicy is omitted). Create a NetworkPolicy for the FTP pods: ingress only to the control, implicit-TLS, passive and metrics ports; egress only to DNS (when a passive address is a host name) and, with activeMode, to clients. Enforced only by CNIs that implement NetworkPolicy."),
    ftpFrom: z
      .array(cidr)
      .max(64)
      .optional()
      .describe("Client CIDRs allowed to the FTP ports (control, implicit TLS, passive range; and the targets of active mode). Unset: every source. Only meaningful where pods see client IPs (externalTrafficPolicy Local, load balancers that route to pod IPs); behind SNAT the source is a node, and spec.service.loadBalancerSourceRanges is the filter to use."),
    metricsFrom: z
      .array(
        z.object({
          namespaceSelector: z.object({ matchLabels: matchLabels.optional() }).optional().describe("Namespaces of the scrapers (empty selector: every namespace)."),
          podSelector: z.object({ matchLabels: matchLabels.optional() }).optional().describe("Scraper pods (empty selector: every pod of the selected namespaces)."),
        }),
      )
      .max(16)
      .optional()
      .describe("Who may scrape the metrics port (9100). Unset: any pod in the cluster (nothing from outside)."),
  })
  .describe("The firewall, Kubernetes-style: a NetworkPolicy that admits exactly the FTP service's ports.");
export type NetworkPolicySpec = z.infer<typeof networkPolicySchema>;

// ---------------------------------------------------------------- tls, proxy, users, storage

const tlsShape = z
  .object({
    mode: z
      .enum(["None", "Explicit", "Implicit", "Both"])
      .default("None")
      .describe("Explicit: AUTH TLS on the control port. Implicit: TLS from the first byte on implicitPort. Both: both."),
    secretName: z
      .string()
      .max(253)
      .regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a Secret name")
      .optional()
      .describe("kubernetes.io/tls Secret (tls.crt, tls.key) in the FtpServer's namespace. Required unless mode is None."),
    implicitPort: port("Port for implicit FTPS (RFC 4217 section 7). Default 990.").default(990),
    requireForLogin: z.boolean().default(false).describe("Refuse USER/PASS before AUTH TLS."),
    requireForData: z.boolean().default(false).describe("Refuse data transfers without PROT P."),
  });
export const tlsSchema = tlsShape.meta({
    description: "FTPS.",
    "x-kubernetes-validations": cel(tlsRules()),
  });

export const proxyProtocolSchema = z
  .object({
    enabled: z.boolean().default(false).describe("Expect a PROXY protocol (v1/v2) header on control connections; restores the client IP behind SNAT."),
    trustedSources: z
      .array(
        z
          .string()
          .max(64)
          .meta({
            description: "CIDR allowed to send PROXY headers.",
            "x-kubernetes-validations": [{ rule: "isCIDR(self)", message: "trustedSources entries must be CIDRs" }],
          }),
      )
      .max(64)
      .optional()
      .describe("CIDRs allowed to send a PROXY header (the load balancer's); connections from elsewhere are refused."),
    onData: z.boolean().default(false).describe("Expect the header on data connections too."),
  })
  .describe("PROXY protocol from the load balancer.");

export const usersSchema = z
  .object({
    secretName: z
      .string()
      .min(1)
      .max(253)
      .regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a Secret name")
      .describe("Secret holding the users file (JSON, scrypt-hashed passwords; see docs/api.md)."),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, "must be a Secret key")
      .default("users.json")
      .describe("Key in the Secret."),
  })
  .describe("Where the FTP users come from.");

const s3StorageShape = z
  .object({
    endpoint: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/]+(\/.*)?$/, "must be an http(s) URL")
      .optional()
      .describe("S3 endpoint URL (e.g. https://s3.example.com, a Ceph RGW or SeaweedFS gateway). Omitted: AWS S3 in region."),
    region: z.string().min(1).max(64).default("us-east-1").describe("Region (signing; for AWS also the endpoint)."),
    bucket: z
      .string()
      .min(3)
      .max(63)
      .regex(/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, "must be an S3 bucket name")
      .describe("The bucket (it must exist). A user's home is the key prefix <prefix><home>/."),
    prefix: z
      .string()
      .max(512)
      .regex(/^([^/].*\/)?$/, "must be empty or end in / (and not start with /)")
      .optional()
      .describe("Key prefix of all homes, e.g. ftp/ (empty or ending in /)."),
    forcePathStyle: z.boolean().default(false).describe("Path-style URLs (endpoint/bucket/key) instead of virtual-hosted (bucket.endpoint/key); most non-AWS servers need it."),
    credentialsSecret: z
      .object({
        name: z.string().max(253).regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a Secret name").describe("Secret in the FtpServer's namespace."),
        accessKeyIdKey: z.string().max(253).default("accessKeyId").describe("Key of the access key id."),
        secretAccessKeyKey: z.string().max(253).default("secretAccessKey").describe("Key of the secret access key."),
      })
      .optional()
      .describe("Static credentials (into the pod as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Omitted: the pod's workload identity (IRSA web identity, EKS Pod Identity, instance metadata) through the AWS SDK's default chain."),
    serviceAccountName: z
      .string()
      .max(253)
      .regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a ServiceAccount name")
      .optional()
      .describe("The pods' ServiceAccount, for workload identity (e.g. one annotated with eks.amazonaws.com/role-arn). Omitted: the namespace's default."),
    partSizeMiB: z.number().int().min(5).max(512).optional().describe("STOR multipart part size in MiB (default 8; at most 10,000 parts, so 8 MiB parts allow files up to 78 GiB)."),
    partBuffers: z.number().int().min(1).max(16).optional().describe("Part buffers per upload (default 2): upload memory is partSizeMiB x partBuffers per transfer."),
  })
  .describe("S3 object storage (storage.type S3).");

const storageShape = z
  .object({
    type: z
      .enum(["EmptyDir", "PersistentVolumeClaim", "SharedClaim", "S3"])
      .default("EmptyDir")
      .describe(
        "EmptyDir (per pod, lost on restart), PersistentVolumeClaim (one claim per pod, StatefulSet volumeClaimTemplates), SharedClaim (one existing ReadWriteMany claim mounted by every replica: NFS, CephFS, EFS, Azure Files, Filestore) or S3 (one bucket prefix every replica shares: storage.s3; docs/storage.md). With more than one replica only SharedClaim and S3 make the pods one FTP service: with per-pod storage an upload through one pod is invisible from the others (condition StorageShared).",
      ),
    size: z
      .string()
      .max(64)
      .optional()
      .meta({
        description: "PVC size (quantity, e.g. 10Gi), or the emptyDir size limit. Not used with SharedClaim (the claim has its own size).",
        "x-kubernetes-validations": [{ rule: "isQuantity(self)", message: "size must be a quantity such as 10Gi" }],
      }),
    storageClassName: z.string().max(253).optional().describe("PVC storage class (PersistentVolumeClaim only)."),
    claimName: z
      .string()
      .max(253)
      .regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a PersistentVolumeClaim name")
      .optional()
      .describe("SharedClaim: the existing ReadWriteMany PersistentVolumeClaim (in the FtpServer's namespace) every replica mounts at /data."),
    subPath: z
      .string()
      .min(1)
      .max(1024)
      .regex(new RegExp(SUB_PATH_RE), "must be a relative path without `..` segments")
      .optional()
      .describe("SharedClaim: directory inside the claim to use as the data root (e.g. one claim shared by several FtpServers). Relative, no `..`."),
    s3: s3StorageShape.optional(),
  });
export const storageSchema = storageShape.meta({
    description: "Where user data (storage.root = /data) lives. Immutable (a StatefulSet cannot change its volume claims).",
    "x-kubernetes-validations": [
      { rule: "self == oldSelf", message: "storage is immutable: delete and recreate the FtpServer to change it" },
      ...cel(storageRules()),
    ],
  });

const quantityMap = z
  .record(
    z.string().max(253),
    z
      .string()
      .max(64)
      .meta({ "x-kubernetes-validations": [{ rule: "isQuantity(self)", message: "must be a quantity such as 500m or 256Mi" }] }),
  )
  .meta({ maxProperties: 16 })
  .optional();

export const resourcesSchema = z
  .object({
    requests: quantityMap.describe("Minimum resources (cpu, memory, ...), as quantity strings."),
    limits: quantityMap.describe("Maximum resources, as quantity strings."),
  })
  .describe("Compute resources of the FTP-server container.");

// ---------------------------------------------------------------- pod template (spec.podTemplate)
// Pod settings every cluster needs. A typed subset of the Kubernetes types (not
// x-kubernetes-preserve-unknown-fields): `kubectl explain` documents it, a typo is refused at
// admission instead of failing the StatefulSet apply later, and a field a newer Kubernetes adds is
// one line here. Every list and map is bounded; nothing is defaulted (the builder applies the
// defaults, statefulset.ts), so a GitOps manifest and the stored object stay equal.

const QUALIFIED_KEY_MESSAGE =
  "keys must be qualified names: [prefix/]name, the name at most 63 characters of letters, digits, - _ . (starting and ending alphanumeric), the prefix a DNS subdomain";
const keyMap = (what: string, valueSchema: z.ZodString, max: number, extraRules: { rule: string; message: string }[] = []) =>
  // The key regex is checked by zod (validateSpec); the CRD drops propertyNames, so CEL checks it there.
  z.record(z.string().regex(new RegExp(QUALIFIED_NAME_RE), QUALIFIED_KEY_MESSAGE), valueSchema).meta({
    description: what,
    maxProperties: max,
    "x-kubernetes-validations": [{ rule: `self.all(k, k.matches('${QUALIFIED_NAME_RE}'))`, message: QUALIFIED_KEY_MESSAGE }, ...extraRules],
  });
const labelValue = z.string().max(63).regex(new RegExp(LABEL_VALUE_RE), "label values are at most 63 characters of letters, digits, - _ . (starting and ending alphanumeric), or empty");
const labelKeyString = z.string().min(1).max(317);

const labelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), labelValue).meta({ maxProperties: 32 }).optional().describe("Labels that must all match."),
    matchExpressions: z
      .array(
        z
          .object({
            key: labelKeyString.describe("Label key."),
            operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]).describe("In, NotIn, Exists or DoesNotExist."),
            values: z.array(z.string().max(63)).max(64).optional().describe("Values (In/NotIn: non-empty; Exists/DoesNotExist: empty)."),
          })
          .describe("A label selector requirement."),
      )
      .max(16)
      .optional()
      .describe("Requirements that must all match."),
  })
  .describe("A label selector (metav1.LabelSelector).");

const nodeSelectorRequirements = (what: string) =>
  z
    .array(
      z
        .object({
          key: labelKeyString.describe("Node label key (matchExpressions) or field name (matchFields: metadata.name)."),
          operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]).describe("In, NotIn, Exists, DoesNotExist, Gt or Lt."),
          values: z.array(z.string().max(63)).max(64).optional().describe("Values (Gt/Lt: one integer)."),
        })
        .describe("A node selector requirement."),
    )
    .max(16)
    .optional()
    .describe(what);
const nodeSelectorTermSchema = z
  .object({
    matchExpressions: nodeSelectorRequirements("Requirements on node labels."),
    matchFields: nodeSelectorRequirements("Requirements on node fields."),
  })
  .describe("A node selector term (all its requirements must match).");

const weight = z.number().int().min(1).max(100).describe("Weight 1-100 added to a node's score when the term matches.");
const podAffinityTermSchema = z
  .object({
    labelSelector: labelSelectorSchema.optional(),
    namespaceSelector: labelSelectorSchema.optional(),
    namespaces: z.array(z.string().max(63)).max(16).optional().describe("Namespaces the labelSelector applies to (default: the pod's)."),
    topologyKey: labelKeyString.describe("Node label whose value is the topology domain, e.g. kubernetes.io/hostname."),
    matchLabelKeys: z.array(labelKeyString).max(16).optional().describe("Pod label keys whose values (from the incoming pod) are added to labelSelector."),
    mismatchLabelKeys: z.array(labelKeyString).max(16).optional().describe("Pod label keys whose values must differ."),
  })
  .describe("Pods (labelSelector in namespaces) this pod should be co-located with (affinity) or not (anti-affinity) within topologyKey.");
const podAffinityShape = (what: string) =>
  z
    .object({
      requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTermSchema).max(16).optional().describe("Hard terms (all must hold)."),
      preferredDuringSchedulingIgnoredDuringExecution: z
        .array(z.object({ weight, podAffinityTerm: podAffinityTermSchema }).describe("A weighted term."))
        .max(16)
        .optional()
        .describe("Soft terms (scored)."),
    })
    .optional()
    .describe(what);

export const affinitySchema = z
  .object({
    nodeAffinity: z
      .object({
        requiredDuringSchedulingIgnoredDuringExecution: z
          .object({ nodeSelectorTerms: z.array(nodeSelectorTermSchema).min(1).max(16).describe("Terms, any of which may match.") })
          .optional()
          .describe("Nodes the pods must run on."),
        preferredDuringSchedulingIgnoredDuringExecution: z
          .array(z.object({ weight, preference: nodeSelectorTermSchema }).describe("A weighted node term."))
          .max(16)
          .optional()
          .describe("Nodes the pods prefer."),
      })
      .optional()
      .describe("Node affinity."),
    podAffinity: podAffinityShape("Pod affinity."),
    podAntiAffinity: podAffinityShape(
      "Pod anti-affinity. With routing.mode ClientIPAffinity the operator appends its own required one-pod-per-node term to requiredDuringSchedulingIgnoredDuringExecution.",
    ),
  })
  .describe("Pod affinity (core/v1 Affinity). Merged with the operator's: see docs/api.md.");

export const tolerationSchema = z
  .object({
    key: z.string().max(317).optional().describe("Taint key (omitted with operator Exists: every taint)."),
    operator: z.enum(["Exists", "Equal"]).optional().describe("Exists or Equal (default Equal)."),
    value: z.string().max(63).optional().describe("Taint value (operator Equal)."),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Taint effect (omitted: every effect)."),
    tolerationSeconds: z.number().int().optional().describe("NoExecute: how long the pod stays bound after the taint appears."),
  })
  .describe("A toleration (core/v1 Toleration).");

export const topologySpreadConstraintSchema = z
  .object({
    maxSkew: z.number().int().min(1).max(100).describe("Most the pod count may differ between two topology domains."),
    topologyKey: labelKeyString.describe("Node label that defines the domains, e.g. kubernetes.io/hostname or topology.kubernetes.io/zone."),
    whenUnsatisfiable: z.enum(["DoNotSchedule", "ScheduleAnyway"]).describe("DoNotSchedule (hard) or ScheduleAnyway (soft)."),
    labelSelector: labelSelectorSchema
      .optional()
      .describe("Pods counted per domain. Omitted: this FtpServer's pods (the operator fills in its selector labels)."),
    minDomains: z.number().int().min(1).max(100).optional().describe("DoNotSchedule: the minimum number of eligible domains."),
    nodeAffinityPolicy: z.enum(["Honor", "Ignore"]).optional().describe("Whether the pod's nodeAffinity/nodeSelector limits the domains counted (default Honor)."),
    nodeTaintsPolicy: z.enum(["Honor", "Ignore"]).optional().describe("Whether tainted nodes are counted (default Ignore)."),
    matchLabelKeys: z.array(labelKeyString).max(16).optional().describe("Pod label keys whose values are added to labelSelector."),
  })
  .describe("A topology spread constraint (core/v1 TopologySpreadConstraint).");

export const podTemplateSchema = z
  .object({
    metadata: z
      .object({
        labels: keyMap("Extra labels on the FTP-server pods. The operator's own labels cannot be set here (admission refuses them).", labelValue, 64, [
          { rule: RESERVED_LABELS_CEL, message: RESERVED_LABELS_MESSAGE },
        ]).optional(),
        annotations: keyMap("Extra annotations on the FTP-server pods (the operator's own win on a clash).", z.string().max(65536), 64).optional(),
      })
      .optional()
      .describe("Labels and annotations of the pods."),
    spec: z
      .object({
        imagePullSecrets: z
          .array(
            z
              .object({ name: z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a Secret name").describe("Secret name.") })
              .describe("A kubernetes.io/dockerconfigjson Secret in the FtpServer's namespace."),
          )
          .max(16)
          .optional()
          .describe("Secrets for pulling the FTP-server image from a private registry."),
        nodeSelector: keyMap("Node labels the pods must run on (every one must match).", labelValue, 32).optional(),
        tolerations: z.array(tolerationSchema).max(32).optional().describe("Taints the pods tolerate."),
        affinity: affinitySchema.optional(),
        topologySpreadConstraints: z
          .array(topologySpreadConstraintSchema)
          .max(8)
          .optional()
          .describe(
            "How the replicas spread. Omitted: across nodes (kubernetes.io/hostname) and zones (topology.kubernetes.io/zone), maxSkew 1, ScheduleAnyway, counting this FtpServer's pods. [] = no spread constraint. Given: these replace the default.",
          ),
        priorityClassName: z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a PriorityClass name").optional().describe("PriorityClass of the pods."),
        serviceAccountName: z
          .string()
          .min(1)
          .max(253)
          .regex(new RegExp(DNS1123_SUBDOMAIN_RE), "must be a ServiceAccount name")
          .optional()
          .describe("The pods' ServiceAccount (no API token is mounted: the server never calls the API). Must equal storage.s3.serviceAccountName when both are set."),
      })
      .optional()
      .describe("Scheduling and identity of the pods."),
  })
  .describe("Pod settings applied to the FTP-server pods (StatefulSet template). A change rolls the pods one at a time with the drain (no session dropped).");
export type PodTemplate = z.output<typeof podTemplateSchema>;
export type Affinity = z.output<typeof affinitySchema>;

// ---------------------------------------------------------------- spec

const specShape = z
  .object({
    replicas: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(2)
      .describe("FTP-server pods. With PortPartitioned each pod owns a slice of the passive range (its StatefulSet ordinal is its slot)."),
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe(
        "FTP-server image (server-image/), to pin one. Unset (recommended): the operator's default, the FTP-server image of its release (flag --ftp-server-image, set by the chart), so an operator upgrade rolls the pods to the matching server; nothing is stored here.",
      ),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
    resources: resourcesSchema.optional(),
    controlPort: port("The FTP control port (pods and Service). Must lie outside the passive range.").default(21),
    greeting: z.string().max(2000).optional().describe("Text of the 220 greeting."),
    passive: passiveSchema,
    userClasses: z
      .array(userClassSchema)
      .max(64)
      .optional()
      .meta({
        description: "Ordered user classes: the first class whose criteria all match names the session's class; none = class `default`.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      }),
    users: usersSchema,
    routing: z
      .object({
        mode: z
          .enum(["PortPartitioned", "ClientIPAffinity"])
          .default("PortPartitioned")
          .describe(
            "PortPartitioned (robust): each pod owns a disjoint slice of the range; operator-managed EndpointSlices send passive port P only to its owner, so any replica count behind any load balancer works. ClientIPAffinity (the product's 'session sticky' advice): sessionAffinity ClientIP, externalTrafficPolicy Local, one pod per node, provider stickiness; sound only for 1 replica or behind a load balancer with 2-tuple client-IP affinity (RoutingSound says so).",
          ),
        sessionAffinityTimeoutSeconds: z
          .number()
          .int()
          .min(1)
          .max(86400)
          .default(10800)
          .describe("ClientIPAffinity: Service sessionAffinityConfig.clientIP.timeoutSeconds."),
      })
      .default({ mode: "PortPartitioned", sessionAffinityTimeoutSeconds: 10800 })
      .describe("How a data connection reaches the pod that holds its control connection."),
    service: serviceSchema.default({ type: "LoadBalancer", provider: "None", hostnamePolicy: "PassThrough" }),
    tls: tlsSchema.optional(),
    proxyProtocol: proxyProtocolSchema.optional(),
    dataConnectionCheck: z
      .enum(["Auto", "Strict", "Relaxed"])
      .default("Auto")
      .describe(
        "Strict: the data connection must come from the control connection's IP. Relaxed: only the first connection on a freshly opened passive port is accepted (and with TLS, the data session must resume the control one). Auto: Strict when the pod sees client IPs (PROXY protocol, externalTrafficPolicy Local, ClusterIP), else Relaxed.",
      ),
    storage: storageSchema.optional(),
    activeMode: z.boolean().default(false).describe("Allow active mode (PORT/EPRT), only back to the control connection's peer."),
    // optional, not defaulted: nothing is stored into FtpServers that omit it (the builder treats unset as enabled)
    networkPolicy: networkPolicySchema.optional(),
    // pod settings (podTemplate block): optional, nothing defaulted into stored objects
    podTemplate: podTemplateSchema.optional(),
  });
export const specSchema = specShape.meta({
    description: "Desired state of an FTP service in passive mode.",
    "x-kubernetes-validations": [
      ...cel(specRules()),
      // storage's own `self == oldSelf` only runs when storage is set before and after: adding or
      // removing it would pass admission and then be refused by the StatefulSet (422, half-applied).
      {
        rule: "has(self.storage) == has(oldSelf.storage)",
        message: "storage cannot be added or removed after creation (a StatefulSet cannot change its volumes): delete and recreate the FtpServer to change it",
      },
    ],
  });

// ---------------------------------------------------------------- status

export const conditionSchema = z
  .object({
    type: z.string().max(316).describe("Condition type: Ready, Reconciling, Stalled, PassiveRangeSized, AddressResolved, RoutingSound, WithinProviderLimits, StorageShared."),
    status: z.enum(["True", "False", "Unknown"]).describe("True, False or Unknown."),
    observedGeneration: z.number().int().min(0).optional().describe("metadata.generation this condition was computed from."),
    lastTransitionTime: z.string().describe("When status last changed (RFC 3339)."),
    reason: z.string().max(1024).describe("CamelCase machine-readable reason."),
    message: z.string().max(32768).describe("Human-readable explanation."),
  })
  .describe("A kstatus-compatible condition.");

export const statusSchema = z
  .object({
    observedGeneration: z.number().int().optional().describe("metadata.generation last reconciled."),
    passive: z
      .object({
        basePort: z.number().int().optional().describe("First passive port in effect."),
        numberOfPorts: z.number().int().optional().describe("Passive ports in effect (after the 5x default)."),
        portEnd: z.number().int().optional().describe("Port End = basePort + numberOfPorts - 1."),
        externalAddress: z.string().optional().describe("External address used for `auto` rules (from the Service's load balancer)."),
        slices: z
          .array(
            z
              .object({
                slot: z.number().int().describe("Pod ordinal."),
                portStart: z.number().int().describe("First port of the slot's slice."),
                portEnd: z.number().int().describe("Last port of the slot's slice."),
              })
              .describe("A pod's slice of the range."),
          )
          .optional()
          .describe("PortPartitioned: each pod's slice of the range."),
      })
      .optional()
      .describe("The passive settings in effect."),
    replicas: z.number().int().optional().describe("Pods of the workload, as observed (the StatefulSet's status.replicas), not the desired count."),
    readyReplicas: z.number().int().optional().describe("Ready pods."),
    serviceName: z.string().optional().describe("The Service clients connect to."),
    nodePortsUsed: z.number().int().optional().describe("NodePorts this FtpServer's Service takes from the cluster pool."),
    conditions: z
      .array(conditionSchema)
      .optional()
      .meta({
        description: "Ready, Reconciling, Stalled (kstatus) and PassiveRangeSized, AddressResolved, RoutingSound, WithinProviderLimits, StorageShared.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
      }),
  })
  .describe("Observed state.");

export const ftpServerSchema = z
  .object({
    apiVersion: z.literal(API_VERSION).describe("ftp.pasv.dev/v1alpha1"),
    kind: z.literal(KIND).describe("FtpServer"),
    metadata: z
      .object({
        name: z.string(),
        namespace: z.string().optional(),
        uid: z.string().optional(),
        generation: z.number().int().optional(),
        resourceVersion: z.string().optional(),
        deletionTimestamp: z.string().optional(),
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .loose()
      .describe("Standard object metadata."),
    spec: specSchema,
    status: statusSchema.optional(),
  })
  .describe("An FTP service in passive mode: pods, a Service with one port per passive port, routing and rendered config.");

// ---------------------------------------------------------------- types

export type Passive = z.output<typeof passiveShape>;
export type ServiceSpec = z.output<typeof serviceShape>;
export type Tls = z.output<typeof tlsShape>;
export type Storage = z.output<typeof storageShape>;
export type Spec = z.output<typeof specShape>;
export type SpecInput = z.input<typeof specShape>;
export type Status = z.output<typeof statusSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type FtpServer = z.output<typeof ftpServerSchema>;
export type FtpServerInput = z.input<typeof ftpServerSchema>;
