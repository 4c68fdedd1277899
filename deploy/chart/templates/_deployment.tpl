{{/*
One operator Deployment: the main one (shard "") or the one of a shard (sharding.shards), which reconciles
only the Transforms labelled platform.pequod.io/shard=<shard> and elects its own leader.
Arguments: a dict with root (the chart's context) and shard.
*/}}
{{- define "pequod.deployment" -}}
{{- $root := .root -}}
{{- $shard := .shard -}}
{{- $cacheMiB := include "pequod.cacheVolumeMiB" $root | int -}}
# The operator: a hardened Deployment (non-root, read-only root filesystem, no capabilities), probes on
# /healthz and /readyz, compiled modules and pulled sources cached on an emptyDir sized for the caches' bounds.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "pequod.fullname" $root }}{{ with $shard }}-shard-{{ . }}{{ end }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "pequod.labels" $root | nindent 4 }}
    {{- with $shard }}{{ printf "app.kubernetes.io/component: shard-%s" . | nindent 4 }}{{ end }}
spec:
  replicas: {{ $root.Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "pequod.selectorLabels" $root | nindent 6 }}
      {{- with $shard }}{{ printf "app.kubernetes.io/component: shard-%s" . | nindent 6 }}{{ end }}
  template:
    metadata:
      labels:
        {{- include "pequod.labels" $root | nindent 8 }}
        {{- with $shard }}{{ printf "app.kubernetes.io/component: shard-%s" . | nindent 8 }}{{ end }}
      {{- with $root.Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "pequod.fullname" $root }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: operator
          image: {{ include "pequod.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - run
            {{- if $root.Values.leaderElection.enabled }}
            - --leader-elect
            - --leader-election-lease-duration={{ $root.Values.leaderElection.leaseDuration }}
            - --leader-election-renew-deadline={{ $root.Values.leaderElection.renewDeadline }}
            - --leader-election-retry-period={{ $root.Values.leaderElection.retryPeriod }}
            {{- end }}
            {{- if $shard }}
            - --shard={{ $shard }}
            {{- else if $root.Values.sharding.shards }}
            - --shards={{ join "," $root.Values.sharding.shards }}
            {{- end }}
            - --metrics-bind-address=0.0.0.0:{{ $root.Values.metrics.port }}
            - --log-format={{ $root.Values.log.format }}
            {{- with $root.Values.operator.watchNamespace }}
            - --namespace={{ . }}
            {{- end }}
            {{- with $root.Values.operator.defaultServiceAccount }}
            - --default-service-account={{ . }}
            {{- end }}
            - --concurrency={{ $root.Values.operator.concurrency }}
            - --max-render-memory={{ $root.Values.sandbox.maxRenderMemory }}
            - --readiness-poll-max={{ $root.Values.sandbox.readinessPollMax }}
            - --cache-dir=/var/cache/pequod
            - --component-disk-cache={{ $root.Values.cache.componentsMiB }}Mi
            - --cue-disk-cache={{ $root.Values.cache.cueModulesMiB }}Mi
            - --blob-cache={{ $root.Values.cache.blobsMiB }}Mi
            - --git-module-cache={{ $root.Values.cache.gitModulesMiB }}Mi
            {{- range $root.Values.operator.insecureRegistries }}
            - --insecure-registry={{ . }}
            {{- end }}
            {{- range $root.Values.operator.extraArgs }}
            - {{ . | quote }}
            {{- end }}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            - name: PEQUOD_LOG
              value: {{ $root.Values.log.level | quote }}
          ports:
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: metrics
            periodSeconds: 10
          readinessProbe:
            httpGet:
              path: /readyz
              port: metrics
            periodSeconds: 5
          {{- with $root.Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: cache
              mountPath: /var/cache/pequod
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - labelSelector:
            matchLabels:
              {{- include "pequod.selectorLabels" $root | nindent 14 }}
              {{- with $shard }}{{ printf "app.kubernetes.io/component: shard-%s" . | nindent 14 }}{{ end }}
          {{- toYaml . | nindent 10 }}
        {{- end }}
      {{- end }}
      {{- with $root.Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $root.Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumes:
        # The disk caches' bounds ({{ $root.Values.cache.componentsMiB }} + {{ $root.Values.cache.cueModulesMiB }} + {{ $root.Values.cache.blobsMiB }} + {{ $root.Values.cache.gitModulesMiB }} MiB) and one git fetch's scratch ({{ $root.Values.cache.gitScratchMiB }} MiB).
        - name: cache
          emptyDir:
            sizeLimit: {{ $cacheMiB }}Mi
{{- end }}
