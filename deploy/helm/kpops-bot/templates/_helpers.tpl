{{- define "kpops-bot.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kpops-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kpops-bot.labels" -}}
{{ include "kpops-bot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* SQLite lives on the volume, so it allows one replica; several share PostgreSQL. */}}
{{- define "kpops-bot.usesSqlite" -}}
{{- if not .Values.database.existingSecret -}}true{{- end -}}
{{- end -}}

{{- define "kpops-bot.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (include "kpops-bot.usesSqlite" .) -}}
{{- fail "replicaCount > 1 needs PostgreSQL: set database.existingSecret (SQLite allows one replica)" -}}
{{- end -}}
{{- if not (has .Values.sandbox.layer (list "namespaces" "uid" "off")) -}}
{{- fail "sandbox.layer must be namespaces, uid or off" -}}
{{- end -}}
{{- end -}}

{{/* The bot's settings file: the user's settings with what the chart decides (where data lives, where it listens). */}}
{{- define "kpops-bot.settings" -}}
{{- $fixed := dict "data_dir" "/data" "host" "0.0.0.0" "port" (int .Values.service.port) -}}
{{- toYaml (merge $fixed (deepCopy .Values.settings)) -}}
{{- end -}}

{{/*
Security contexts per sandbox layer. `namespaces`: bubblewrap creates user, mount and PID namespaces, which the
runtime's default seccomp and AppArmor profiles forbid, and mounts a fresh /proc, which the runtime's masked /proc
paths forbid (procMount Unmasked, which Kubernetes allows in pods with their own user namespace: hostUsers false).
Everything else stays restricted. `uid` and `off`: the restricted profile as it is.
*/}}
{{- define "kpops-bot.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: {{ if eq .Values.sandbox.layer "namespaces" }}Unconfined{{ else }}RuntimeDefault{{ end }}
{{- end -}}

{{- define "kpops-bot.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- if eq .Values.sandbox.layer "namespaces" }}
procMount: Unmasked
appArmorProfile:
  type: Unconfined
{{- end }}
{{- end -}}
