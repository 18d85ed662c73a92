{{/* Labels every object carries. */}}
{{- define "weir.labels" -}}
app.kubernetes.io/part-of: weir
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "weir.operator.selector" -}}
app.kubernetes.io/name: weir-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weir.webhook.selector" -}}
app.kubernetes.io/name: weir-webhook
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* image: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "weir.image" -}}
{{ .image.repository }}:{{ .image.tag | default .appVersion }}
{{- end -}}

{{/* The mesh config document: the chart's defaults, then .Values.meshConfig. */}}
{{- define "weir.meshConfig" -}}
{{- $defaults := dict "trustDomain" .Values.trustDomain "caAddress" (printf "weir-operator.%s.svc:15012" .Release.Namespace) -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy .Values.meshConfig)) -}}
{{- end -}}

{{/* Namespaces the webhooks never see. */}}
{{- define "weir.webhook.excluded" -}}
{{- $ns := list "kube-system" .Release.Namespace -}}
{{- range .Values.webhook.excludedNamespaces }}{{ $ns = append $ns . }}{{ end -}}
{{- toJson (uniq $ns) -}}
{{- end -}}
