{{/* Chart name, truncated to a DNS label. */}}
{{- define "pasv-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or just the release name when it already contains the chart name. */}}
{{- define "pasv-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pasv-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pasv-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pasv-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pasv-operator.labels" -}}
helm.sh/chart: {{ include "pasv-operator.chart" . }}
{{ include "pasv-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pasv-operator
{{- end }}

{{- define "pasv-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pasv-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pasv-operator.leaseName" -}}
{{- default (include "pasv-operator.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "pasv-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- /* The FTP-server image the operator gives FtpServers without spec.image (--ftp-server-image). */}}
{{- define "pasv-operator.ftpServerImage" -}}
{{- if .Values.ftpServerImage.digest }}
{{- printf "%s@%s" .Values.ftpServerImage.repository .Values.ftpServerImage.digest }}
{{- else }}
{{- printf "%s:%s" .Values.ftpServerImage.repository (default .Chart.AppVersion .Values.ftpServerImage.tag) }}
{{- end }}
{{- end }}

{{/*
The V8 old-space cap in MiB: heapLimitPercent of resources.limits.memory (Ki, Mi, Gi, K, M, G or
bytes); empty when either is unset or zero.
*/}}
{{- define "pasv-operator.heapLimitMiB" -}}
{{- $limit := "" -}}
{{- with .Values.resources }}{{ with .limits }}{{ $limit = toString (.memory | default "") }}{{ end }}{{ end -}}
{{- $pct := int (.Values.heapLimitPercent | default 0) -}}
{{- if and $limit (gt $pct 0) -}}
{{- $n := regexFind "^[0-9]+" $limit | int64 -}}
{{- $unit := regexFind "[A-Za-z]+$" $limit -}}
{{- $mib := 0 -}}
{{- if eq $unit "Gi" }}{{ $mib = mul $n 1024 }}
{{- else if eq $unit "Mi" }}{{ $mib = $n }}
{{- else if eq $unit "Ki" }}{{ $mib = div $n 1024 }}
{{- else if eq $unit "G" }}{{ $mib = div (mul $n 1000000000) 1048576 }}
{{- else if eq $unit "M" }}{{ $mib = div (mul $n 1000000) 1048576 }}
{{- else if eq $unit "K" }}{{ $mib = div (mul $n 1000) 1048576 }}
{{- else if eq $unit "" }}{{ $mib = div $n 1048576 }}
{{- else }}{{ fail (printf "resources.limits.memory %q: unit not understood for heapLimitPercent (use Mi or Gi, or set heapLimitPercent 0)" $limit) }}
{{- end -}}
{{- $heap := div (mul $mib $pct) 100 -}}
{{- if gt $heap 0 }}{{ $heap }}{{ end -}}
{{- end -}}
{{- end -}}
