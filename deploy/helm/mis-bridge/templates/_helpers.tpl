{{- define "mis-bridge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mis-bridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mis-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mis-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mis-bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "mis-bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "mis-bridge.image" -}}
{{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end -}}

{{/* The Secret holding the database URL: the operator's, or the one this chart makes. */}}
{{- define "mis-bridge.databaseSecret" -}}
{{- if .Values.database.existingSecret -}}
{{ .Values.database.existingSecret }}
{{- else -}}
{{ include "mis-bridge.fullname" . }}-database
{{- end -}}
{{- end -}}

{{/* BRIDGE_DATABASE_URL must come from the environment: the image sets a SQLite default there,
     and the environment beats files in BRIDGE_SECRETS_DIR. */}}
{{- define "mis-bridge.databaseEnv" -}}
- name: BRIDGE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "mis-bridge.databaseSecret" . }}
      key: {{ .Values.database.secretKey }}
{{- end -}}
