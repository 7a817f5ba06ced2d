{{/*
The chart's name.
*/}}
{{- define "cattery-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: the release name, with the chart's name appended unless the release name holds it.
Truncated to 63 characters (DNS labels).
*/}}
{{- define "cattery-operator.fullname" -}}
{{- $name := include "cattery-operator.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
name-version, for the helm.sh/chart label.
*/}}
{{- define "cattery-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object of the chart.
*/}}
{{- define "cattery-operator.labels" -}}
helm.sh/chart: {{ include "cattery-operator.chart" . }}
{{ include "cattery-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the operator's pods (immutable in the Deployment's selector: do not add to them).
*/}}
{{- define "cattery-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cattery-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "cattery-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "cattery-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cattery-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Checks the operator would otherwise fail at start with (it exits 2 on them).
*/}}
{{- define "cattery-operator.validate" -}}
{{- $le := .Values.leaderElection }}
{{- if ge (int $le.renewDeadline) (int $le.leaseDuration) }}
{{- fail "leaderElection.renewDeadline must be shorter than leaderElection.leaseDuration" }}
{{- end }}
{{- if ge (int $le.retryPeriod) (int $le.renewDeadline) }}
{{- fail "leaderElection.retryPeriod must be shorter than leaderElection.renewDeadline" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not $le.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: without it every replica reconciles" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail "metrics.port and health.port must differ" }}
{{- end }}
{{- end }}
