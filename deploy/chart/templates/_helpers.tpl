{{/* The name of the operator's objects: the release name when it says pequod, else <release>-pequod. */}}
{{- define "pequod.fullname" -}}
{{- if contains "pequod" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-pequod" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "pequod.labels" -}}
{{ include "pequod.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels that select the operator's pods. */}}
{{- define "pequod.selectorLabels" -}}
app.kubernetes.io/name: pequod
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's image reference: repository:tag, or repository@digest when a digest is set. */}}
{{- define "pequod.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* The cache volume's size: the disk caches' bounds plus the room for one git fetch, in MiB. */}}
{{- define "pequod.cacheVolumeMiB" -}}
{{- $c := .Values.cache -}}
{{- add $c.componentsMiB $c.cueModulesMiB $c.blobsMiB $c.gitModulesMiB $c.gitScratchMiB -}}
{{- end -}}
