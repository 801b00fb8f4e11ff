package io.mistralflink.operators.frame;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/**
 * One micro-batch of one pipeline step: a row per token processed in the step, each with its request
 * id, position, token id, flags and a row of {@link #width()} floats (hidden state between stages,
 * logits after the head; width 0 when a frame carries only tokens). A row may also say how its token
 * is drawn ({@link #draw(int)}), which token follows it when it is scored ({@link #target(int)}), or
 * the loss it scored ({@link #nll(int)}): typed, nullable columns on the wire. Lane id, step, stage and
 * anything else the pipeline wants travel in {@link #meta()} (Arrow schema metadata on the wire).
 *
 * <p>Immutable: arrays are copied in and never handed out, so chained operators can pass a frame by
 * reference ({@link MicroBatchFrameSerializer#copy} returns its argument). Read the values without
 * copying through {@link #valuesSegment()}.
 */
@TypeInfo(MicroBatchFrameTypeInfo.Factory.class)
public final class MicroBatchFrame {
    /** Flag bit 0: the row needs logits (the last row of its prefill chunk, or a decode row). */
    public static final int FLAG_LOGITS = 1;

    /** Suggested meta keys; the pipeline may add its own. */
    public static final String META_LANE = "lane";
    public static final String META_STEP = "step";
    public static final String META_STAGE = "stage";

    private final SortedMap<String, String> meta;
    private final String[] requestIds;
    private final int[] positions;
    private final int[] tokens;
    private final int[] flags;
    private final int width;
    private final float[] values;
    /** Per row: how its token is drawn (null: none), the token after it (-1: none), its loss (NaN: none). */
    private final Draw[] draws;
    private final int[] targets;
    private final double[] nll;
    private int hash;

    /** Trusted: takes ownership of the arrays (callers in this package have copied or built them). */
    MicroBatchFrame(SortedMap<String, String> meta, String[] requestIds, int[] positions, int[] tokens,
            int[] flags, int width, float[] values, Draw[] draws, int[] targets, double[] nll) {
        int rows = requestIds.length;
        if (positions.length != rows || tokens.length != rows || flags.length != rows
                || draws.length != rows || targets.length != rows || nll.length != rows) {
            throw new IllegalArgumentException("columns of unequal length");
        }
        if (width < 0 || values.length != (long) rows * width) {
            throw new IllegalArgumentException("values: " + values.length + " floats for " + rows + " x " + width);
        }
        this.meta = Collections.unmodifiableSortedMap(meta);
        this.requestIds = requestIds;
        this.positions = positions;
        this.tokens = tokens;
        this.flags = flags;
        this.width = width;
        this.values = values;
        this.draws = draws;
        this.targets = targets;
        this.nll = nll;
    }

    public static Builder builder() { return new Builder(); }

    public Map<String, String> meta() { return meta; }

    /** The meta value for {@code key}, or null. */
    public String meta(String key) { return meta.get(key); }

    public int rows() { return requestIds.length; }

    public int width() { return width; }

    public String requestId(int row) { return requestIds[row]; }

    public int position(int row) { return positions[row]; }

    public int token(int row) { return tokens[row]; }

    public int flags(int row) { return flags[row]; }

    public boolean hasFlag(int row, int mask) { return (flags[row] & mask) == mask; }

    /** How the row's token is drawn, or null. */
    public Draw draw(int row) { return draws[row]; }

    /** The token after a scored row (teacher forcing), or -1. */
    public int target(int row) { return targets[row]; }

    /** The summed loss a scored row carries back, or NaN. */
    public double nll(int row) { return nll[row]; }

    public float value(int row, int col) {
        Objects.checkIndex(col, width);
        return values[row * width + col];
    }

    public List<String> requestIds() { return List.of(requestIds); }

    public int[] positions() { return positions.clone(); }

    public int[] tokens() { return tokens.clone(); }

    public int[] flags() { return flags.clone(); }

    /** A copy of one row of values. */
    public float[] row(int row) {
        Objects.checkIndex(row, rows());
        return Arrays.copyOfRange(values, row * width, row * width + width);
    }

    /** A copy of the rows x width matrix, row-major. */
    public float[] values() { return values.clone(); }

    /** The rows x width matrix, row-major, as a read-only view: no copy. */
    public MemorySegment valuesSegment() { return MemorySegment.ofArray(values).asReadOnly(); }

    /** This frame with one meta entry added or replaced; columns are shared, not copied. */
    public MicroBatchFrame withMeta(String key, String value) {
        TreeMap<String, String> m = new TreeMap<>(meta);
        m.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
        return new MicroBatchFrame(m, requestIds, positions, tokens, flags, width, values, draws, targets, nll);
    }

    /** The same rows with new values (a stage's output, or logits): {@code matrix} is copied. */
    public MicroBatchFrame withValues(int width, float[] matrix) {
        return new MicroBatchFrame(new TreeMap<>(meta), requestIds, positions, tokens, flags, width, matrix.clone(),
                draws, targets, nll);
    }

    /** Arrow IPC stream bytes: one schema message, one record batch, end of stream. */
    public byte[] toIpc() { return FrameIpc.encode(this); }

    public static MicroBatchFrame fromIpc(byte[] ipc) { return FrameIpc.decode(ipc, 0, ipc.length); }

    // Raw columns for the codec, no copies.
    String[] requestIdArray() { return requestIds; }
    int[] positionArray() { return positions; }
    int[] tokenArray() { return tokens; }
    int[] flagArray() { return flags; }
    float[] valueArray() { return values; }
    Draw[] drawArray() { return draws; }
    int[] targetArray() { return targets; }
    double[] nllArray() { return nll; }

    @Override
    public boolean equals(Object o) {
        return o == this || o instanceof MicroBatchFrame f
                && width == f.width
                && meta.equals(f.meta)
                && Arrays.equals(requestIds, f.requestIds)
                && Arrays.equals(positions, f.positions)
                && Arrays.equals(tokens, f.tokens)
                && Arrays.equals(flags, f.flags)
                && Arrays.equals(values, f.values)
                && Arrays.equals(draws, f.draws)
                && Arrays.equals(targets, f.targets)
                && Arrays.equals(nll, f.nll);
    }

    @Override
    public int hashCode() {
        int h = hash;
        if (h == 0) {
            h = Objects.hash(meta, width);
            h = 31 * h + Arrays.hashCode(requestIds);
            h = 31 * h + Arrays.hashCode(positions);
            h = 31 * h + Arrays.hashCode(tokens);
            h = 31 * h + Arrays.hashCode(flags);
            h = 31 * h + Arrays.hashCode(values);
            h = 31 * h + Arrays.hashCode(draws);
            h = 31 * h + Arrays.hashCode(targets);
            h = 31 * h + Arrays.hashCode(nll);
            hash = h;
        }
        return h;
    }

    @Override
    public String toString() { return "MicroBatchFrame" + meta + "[rows=" + rows() + ", width=" + width + "]"; }

    /**
     * Rows are added one at a time; values either per row ({@link #row(String, int, int, int, float[])})
     * or all at once ({@link #values(float[])}), not both.
     */
    public static final class Builder {
        private final TreeMap<String, String> meta = new TreeMap<>();
        private String[] requestIds = new String[16];
        private int[] positions = new int[16];
        private int[] tokens = new int[16];
        private int[] flags = new int[16];
        private Draw[] draws = new Draw[16];
        private int[] targets = new int[16];
        private double[] nll = new double[16];
        private float[] rowValues = new float[0];
        private float[] matrix;
        private boolean perRowValues;
        private int width;
        private int rows;

        private Builder() {}

        public Builder meta(String key, String value) {
            meta.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
            return this;
        }

        public Builder meta(Map<String, String> entries) {
            entries.forEach(this::meta);
            return this;
        }

        /** Floats per row; 0 (the default) for a tokens-only frame. Set before adding rows with values. */
        public Builder width(int width) {
            if (width < 0) throw new IllegalArgumentException("width " + width);
            if (perRowValues && width != this.width) throw new IllegalStateException("width changed after rows");
            this.width = width;
            return this;
        }

        /** A row whose values come from {@link #values(float[])} (or none, if width is 0). */
        public Builder row(String requestId, int position, int token, int flags) {
            if (perRowValues && width > 0) throw new IllegalStateException("other rows carry values; give this one too");
            return add(requestId, position, token, flags);
        }

        private Builder add(String requestId, int position, int token, int flags) {
            grow();
            requestIds[rows] = Objects.requireNonNull(requestId);
            positions[rows] = position;
            tokens[rows] = token;
            this.flags[rows] = flags;
            draws[rows] = null;
            targets[rows] = -1;
            nll[rows] = Double.NaN;
            rows++;
            return this;
        }

        /** How the last row added draws its token. */
        public Builder draw(Draw draw) {
            draws[lastRow()] = Objects.requireNonNull(draw);
            return this;
        }

        /** The token after the last row added, which scoring it predicts. */
        public Builder target(int token) {
            if (token < 0) throw new IllegalArgumentException("target " + token);
            targets[lastRow()] = token;
            return this;
        }

        /** The loss the last row added carries back. */
        public Builder nll(double loss) {
            nll[lastRow()] = loss;
            return this;
        }

        private int lastRow() {
            if (rows == 0) throw new IllegalStateException("no row yet");
            return rows - 1;
        }

        /** A row with its {@code width} values (copied). */
        public Builder row(String requestId, int position, int token, int flags, float[] values) {
            if (values.length != width) throw new IllegalArgumentException(values.length + " values, width " + width);
            if (matrix != null) throw new IllegalStateException("values(float[]) already given");
            if (rows > 0 && !perRowValues && width > 0) throw new IllegalStateException("earlier rows have no values");
            perRowValues = true;
            int need = (rows + 1) * width;
            if (rowValues.length < need) rowValues = Arrays.copyOf(rowValues, Math.max(need, rowValues.length * 2));
            System.arraycopy(values, 0, rowValues, rows * width, width);
            return add(requestId, position, token, flags);
        }

        /** All values at once: rows x width, row-major (copied). */
        public Builder values(float[] matrix) {
            if (perRowValues) throw new IllegalStateException("values already given per row");
            this.matrix = matrix.clone();
            return this;
        }

        public MicroBatchFrame build() {
            long n = (long) rows * width;
            float[] v;
            if (matrix != null) {
                v = matrix;
            } else if (perRowValues || n == 0) {
                v = Arrays.copyOf(rowValues, (int) n);
            } else {
                throw new IllegalStateException(rows + " rows of width " + width + " but no values");
            }
            return new MicroBatchFrame(new TreeMap<>(meta), Arrays.copyOf(requestIds, rows),
                    Arrays.copyOf(positions, rows), Arrays.copyOf(tokens, rows), Arrays.copyOf(flags, rows), width, v,
                    Arrays.copyOf(draws, rows), Arrays.copyOf(targets, rows), Arrays.copyOf(nll, rows));
        }

        private void grow() {
            if (rows == requestIds.length) {
                int cap = rows * 2;
                requestIds = Arrays.copyOf(requestIds, cap);
                positions = Arrays.copyOf(positions, cap);
                tokens = Arrays.copyOf(tokens, cap);
                flags = Arrays.copyOf(flags, cap);
                draws = Arrays.copyOf(draws, cap);
                targets = Arrays.copyOf(targets, cap);
                nll = Arrays.copyOf(nll, cap);
            }
        }
    }
}
